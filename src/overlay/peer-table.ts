import { type Cidr, formatCidr, prefixMask, cidrsOverlap, parseCidr, parseIpv4 } from '../wire/address.js';
import { TunnelCounters } from './counters.js';
import { macForIpv4 } from './mac.js';
import { MAX_VNI } from './vni.js';
import { tunnelName } from './tunnel-name.js';

/** A remote node as the agent (or a test) describes it. */
export interface PeerSpec {
  /** Node name, e.g. `worker1`. */
  node: string;
  /** The node's system-id (a UUID); names the tunnel `ovn-<6 hex>-0`. */
  systemId: string;
  /** The node's underlay IPv4 address, the outer destination of Geneve packets to it. */
  underlay: string;
  /** The node's pod subnet (CIDR). */
  subnet: string;
  /** The VNI the node expects on packets sent to it. */
  vni: number;
}

/** A peer as the engine uses it: numbers instead of strings, precomputed header fields, counters. */
export interface Peer {
  readonly spec: Readonly<PeerSpec>;
  readonly tunnel: string;
  readonly underlay: number;
  readonly subnet: Cidr;
  readonly subnetMask: number;
  readonly vni: number;
  /** The inner destination MAC of frames to this node: 0a:58 + its subnet gateway (.1). */
  readonly mac: Buffer;
  readonly counters: TunnelCounters;
  /**
   * The tunnel's port number, like OVS's `Ofport` in the seed's tunnels/show: the smallest free
   * number from 1 when the tunnel first appears, kept for as long as the tunnel exists.
   */
  readonly ofport: number;
}

export class PeerSpecError extends Error {
  constructor(readonly peer: string, message: string) {
    super(`peer ${peer}: ${message}`);
    this.name = 'PeerSpecError';
  }
}

/** Parses and checks one spec. `counters` carries a tunnel's counters across updates. */
export function makePeer(spec: PeerSpec, counters = new TunnelCounters(), ofport = 0): Peer {
  const who = spec.node || spec.systemId;
  const underlay = parseIpv4(spec.underlay);
  if (underlay === null) throw new PeerSpecError(who, `underlay "${spec.underlay}" is not an IPv4 address`);
  const sub = parseCidr(spec.subnet);
  if (!sub.ok) throw new PeerSpecError(who, `subnet: ${sub.problem}`);
  if (sub.cidr.prefix > 30) throw new PeerSpecError(who, `subnet ${spec.subnet} is too small for pods`);
  if (!Number.isInteger(spec.vni) || spec.vni < 1 || spec.vni > MAX_VNI) {
    throw new PeerSpecError(who, `vni ${spec.vni} is not in 1..${MAX_VNI}`);
  }
  let tunnel: string;
  try {
    tunnel = tunnelName(spec.systemId);
  } catch (err) {
    throw new PeerSpecError(who, (err as Error).message);
  }
  return {
    spec: { ...spec },
    tunnel,
    underlay,
    subnet: sub.cidr,
    subnetMask: prefixMask(sub.cidr.prefix),
    vni: spec.vni,
    mac: macForIpv4(sub.cidr.base + 1),
    counters,
    ofport,
  };
}

/**
 * The peers of one node, found by inner destination (longest matching pod subnet) on the way out and
 * by outer source address on the way in. Lookups are map reads keyed by numbers: no allocation.
 */
export class PeerTable {
  private bySubnet = new Map<number, Map<number, Peer>>();
  /** Prefix lengths present, longest first, so the first hit is the longest match. */
  private prefixes: number[] = [];
  private byUnderlay = new Map<number, Peer>();
  private byTunnel = new Map<string, Peer>();

  constructor(private readonly localSubnet: Cidr, private readonly localUnderlay: number) {}

  /**
   * Replaces the peer set. Counters of tunnels that stay are kept. Throws PeerSpecError (and
   * changes nothing) when a spec is invalid or two peers (or a peer and we) clash.
   */
  replace(specs: readonly PeerSpec[]): void {
    const peers: Peer[] = [];
    for (const spec of specs) {
      const old = this.byTunnel.get(tunnelNameOrEmpty(spec.systemId));
      peers.push(makePeer(spec, old?.counters, old?.ofport));
    }
    const seenUnderlay = new Map<number, Peer>();
    const seenTunnel = new Map<string, Peer>();
    for (const p of peers) {
      if (p.underlay === this.localUnderlay) throw new PeerSpecError(p.spec.node, `underlay ${p.spec.underlay} is our own address`);
      if (cidrsOverlap(p.subnet, this.localSubnet)) {
        throw new PeerSpecError(p.spec.node, `subnet ${formatCidr(p.subnet)} overlaps our subnet ${formatCidr(this.localSubnet)}`);
      }
      const u = seenUnderlay.get(p.underlay);
      if (u) throw new PeerSpecError(p.spec.node, `underlay ${p.spec.underlay} is also ${u.spec.node}'s`);
      const t = seenTunnel.get(p.tunnel);
      if (t) throw new PeerSpecError(p.spec.node, `tunnel name ${p.tunnel} is also ${t.spec.node}'s (system-ids share 6 hex digits)`);
      seenUnderlay.set(p.underlay, p);
      seenTunnel.set(p.tunnel, p);
    }
    checkDisjoint(peers);
    // New tunnels get the smallest port numbers that no staying tunnel holds.
    const used = new Set(peers.map((p) => p.ofport).filter((n) => n > 0));
    let next = 1;
    for (let i = 0; i < peers.length; i++) {
      if (peers[i]!.ofport > 0) continue;
      while (used.has(next)) next++;
      used.add(next);
      peers[i] = { ...peers[i]!, ofport: next };
      seenUnderlay.set(peers[i]!.underlay, peers[i]!);
      seenTunnel.set(peers[i]!.tunnel, peers[i]!);
    }
    const bySubnet = new Map<number, Map<number, Peer>>();
    for (const p of peers) {
      let m = bySubnet.get(p.subnet.prefix);
      if (!m) bySubnet.set(p.subnet.prefix, (m = new Map()));
      m.set(p.subnet.base, p);
    }
    this.bySubnet = bySubnet;
    this.prefixes = [...bySubnet.keys()].sort((a, b) => b - a);
    this.byUnderlay = seenUnderlay;
    this.byTunnel = seenTunnel;
  }

  /** The peer whose pod subnet holds `addr`, or undefined. */
  lookupDestination(addr: number): Peer | undefined {
    for (const prefix of this.prefixes) {
      const p = this.bySubnet.get(prefix)!.get((addr & prefixMask(prefix)) >>> 0);
      if (p) return p;
    }
    return undefined;
  }

  lookupUnderlay(addr: number): Peer | undefined {
    return this.byUnderlay.get(addr);
  }

  byTunnelName(name: string): Peer | undefined {
    return this.byTunnel.get(name);
  }

  list(): Peer[] {
    return [...this.byTunnel.values()];
  }

  get size(): number {
    return this.byTunnel.size;
  }
}

function tunnelNameOrEmpty(systemId: string): string {
  try {
    return tunnelName(systemId);
  } catch {
    return '';
  }
}

/**
 * Throws when two peers' subnets overlap. Sorted by first address, blocks are disjoint exactly when
 * each starts after every earlier one ends: O(n log n), so a mesh of thousands of nodes stays cheap.
 */
function checkDisjoint(peers: readonly Peer[]): void {
  const sorted = [...peers].sort((a, b) => a.subnet.base - b.subnet.base || a.subnet.prefix - b.subnet.prefix);
  let last: Peer | undefined;
  let lastEnd = -1;
  for (const p of sorted) {
    if (last && p.subnet.base <= lastEnd) {
      throw new PeerSpecError(p.spec.node, `subnet ${formatCidr(p.subnet)} overlaps ${last.spec.node}'s ${formatCidr(last.subnet)}`);
    }
    const end = p.subnet.base + 2 ** (32 - p.subnet.prefix) - 1;
    if (end > lastEnd) {
      lastEnd = end;
      last = p;
    }
  }
}
