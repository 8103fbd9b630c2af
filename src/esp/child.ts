import type { SaPair } from './sa-pair.js';
import { parseIpv4 } from '../wire/address.js';
import type { Policy } from './spd.js';
import type { EspMode, Lifetime } from './types.js';
import type { TrafficSelector } from '../wire/traffic-selector.js';

/**
 * What the daemon (manual keys) or the IKE engine (negotiated keys) installs for one child SA: the
 * one child spec (the IKE engine's child-up adds only which connection and child it is).
 */
export interface ChildSpec {
  name: string;
  mode: EspMode;
  /** Underlay addresses; remotePort is normally 4500. */
  local: string;
  remote: string;
  remotePort: number;
  localTs: TrafficSelector[];
  remoteTs: TrafficSelector[];
  spiIn: number;
  spiOut: number;
  /** AES key ‖ 4-byte salt: 36 bytes for AES-256-GCM, 20 for AES-128-GCM. */
  keyIn: Buffer;
  keyOut: Buffer;
  replayWindow?: number;
  softLifetime?: Lifetime;
  hardLifetime?: Lifetime;
  /** For status, e.g. "AES_GCM_16_256". */
  proposal?: string;
  /**
   * Make-before-break for the side that answered the exchange: the pair accepts inbound at once
   * but carries outbound only once the peer has sent on it (so it has the pair) or once every
   * older pair of the child is removed. Without it, our first packets on the new SPI can reach
   * the peer before the response that installs it there, and are dropped as unknown SPI.
   */
  deferOutbound?: boolean;
  /**
   * Set when this pair rekeys another (RFC 7296 §2.8): that pair's inbound SPI. The data path moves
   * outbound traffic to the new pair and keeps the old one for inbound until its child-down.
   */
  replacesSpiIn?: number;
  /** Test only: the first outbound sequence number (default 1), to reach exhaustion quickly. */
  testOnlyFirstSeqOut?: number;
}

/**
 * A child as the data path holds it: its latest spec, its SPD policy and the SA pairs installed
 * for it, oldest first. The newest pair carries outbound traffic (make-before-break); every pair
 * still installed accepts inbound traffic until it is removed.
 */
export class Child {
  spec: ChildSpec;
  policy: Policy;
  readonly pairs: SaPair[] = [];
  localAddr: number;
  remoteAddr: number;

  constructor(spec: ChildSpec) {
    checkPort(spec.remotePort);
    this.localAddr = addressOf(spec.local, 'local');
    this.remoteAddr = addressOf(spec.remote, 'remote');
    this.spec = spec;
    this.policy = policyOf(spec);
  }

  /** Takes a newer spec (a rekey may narrow selectors or move the peer); all or nothing. */
  update(spec: ChildSpec): void {
    checkPort(spec.remotePort);
    const localAddr = addressOf(spec.local, 'local');
    const remoteAddr = addressOf(spec.remote, 'remote');
    this.localAddr = localAddr;
    this.remoteAddr = remoteAddr;
    this.spec = spec;
    this.policy = policyOf(spec);
  }

  /**
   * The SA pair outbound traffic uses: the newest one neither deferred nor retired; else the
   * newest not retired (a deferred pair is better than one the peer is deleting); else the newest.
   */
  get outbound(): SaPair | undefined {
    const p = this.pairs;
    for (let i = p.length - 1; i >= 0; i--) if (!p[i]!.outboundDeferred && !p[i]!.outboundRetired) return p[i];
    for (let i = p.length - 1; i >= 0; i--) if (!p[i]!.outboundRetired) return p[i];
    return p[p.length - 1];
  }
}

function policyOf(spec: ChildSpec): Policy {
  return { name: spec.name, action: 'protect', localTs: spec.localTs, remoteTs: spec.remoteTs };
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`child remote port must be 1..65535, got ${port}`);
}

function addressOf(text: string, what: string): number {
  const v = parseIpv4(text);
  if (v === null) throw new RangeError(`child ${what} address must be IPv4, got ${JSON.stringify(text)}`);
  return v;
}
