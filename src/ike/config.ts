import { Lru } from './auth/lru.js';
import { parseProposal, type ProposalSpec, type SaProtocol } from './proposals.js';
import { parseTs, type TsSpec } from '../wire/traffic-selector.js';

/**
 * Parsed proposals and selectors by their text, shared between connections: a node with 1000
 * peers has 1000 connections with the same few texts, and each parse cost ~2 KB of heap per
 * connection. Frozen, so a shared one cannot be changed through one connection.
 */
const parsedProposals = new Lru<ProposalSpec>(256);
const parsedSelectors = new Lru<TsSpec>(256);

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

function proposalsOf(texts: readonly string[], protocol: SaProtocol): ProposalSpec[] {
  return texts.map((t) => {
    const key = `${protocol}|${t}`;
    let p = parsedProposals.get(key);
    if (!p) parsedProposals.set(key, (p = deepFreeze(parseProposal(t, protocol))));
    return p;
  });
}

function selectorOf(text: string): TsSpec {
  let ts = parsedSelectors.get(text);
  if (!ts) parsedSelectors.set(text, (ts = deepFreeze(parseTs(text))));
  return ts;
}

/**
 * What the engine needs to know about one connection. The daemon maps its YAML (swanctl key names)
 * onto this; all durations are milliseconds.
 */
export interface IkeChildConfig {
  name: string;
  mode: 'tunnel' | 'transport';
  /** swanctl forms: `dynamic`, `10.1.0.0/24`, `dynamic[udp/6081]`, ... */
  localTs: string[];
  remoteTs: string[];
  /** swanctl ESP proposals: `aes256gcm16`, `aes256gcm16-modp2048` (the latter: PFS on rekey). */
  espProposals: string[];
  /** start (default) and trap: negotiated with the IKE SA (trap eagerly: no acquire upcall); none: only on request. */
  startAction?: 'start' | 'trap' | 'none';
  /** Rekey this child after this long; 0 or absent: never. */
  rekeyTimeMs?: number;
  lifeBytes?: number;
  lifePackets?: number;
}

export interface IkeConnectionConfig {
  name: string;
  localAddrs: string[];
  remoteAddrs: string[];
  localPort?: number; // 500
  remotePort?: number; // 500
  /** swanctl IKE proposals: `aes256gcm16-prfsha256-modp2048`. */
  proposals: string[];
  /** Liveness check interval when the peer is silent; 0 or absent: no DPD. */
  dpdDelayMs?: number;
  /** Rekey the IKE SA after this long; 0 or absent: never. */
  rekeyTimeMs?: number;
  /** Fake NAT (random NAT_DETECTION_SOURCE_IP) so that both ends float to 4500 and encapsulate ESP. */
  forceEncap?: boolean; // true
  /** Send and accept IKE fragments (RFC 7383). */
  fragmentation?: boolean; // true
  /** IP-level size limit above which protected messages are fragmented. */
  fragmentMtu?: number; // 1280
  children: IkeChildConfig[];
}

/** A connection with its proposals and selectors parsed once. */
export interface ResolvedConnection {
  config: IkeConnectionConfig;
  name: string;
  ike: ProposalSpec[];
  children: ResolvedChild[];
  localPort: number;
  remotePort: number;
}

export interface ResolvedChild {
  config: IkeChildConfig;
  name: string;
  esp: ProposalSpec[];
  localTs: TsSpec[];
  remoteTs: TsSpec[];
}

/** Parses proposals and selectors; throws ProposalSyntaxError / TsSyntaxError naming the bad text. */
export function resolveConnection(c: IkeConnectionConfig): ResolvedConnection {
  return {
    config: c,
    name: c.name,
    ike: proposalsOf(c.proposals, 'ike'),
    localPort: c.localPort ?? 500,
    remotePort: c.remotePort ?? 500,
    children: c.children.map((ch) => ({
      config: ch,
      name: ch.name,
      esp: proposalsOf(ch.espProposals, 'esp'),
      localTs: ch.localTs.map(selectorOf),
      remoteTs: ch.remoteTs.map(selectorOf),
    })),
  };
}
