/**
 * Counters the overlay keeps: per tunnel (one per peer, named like OVN's port) and drops by cause.
 * Plain mutable numbers, bumped on the hot path without allocation; snapshot() copies them out for
 * status and metrics.
 */

/** Traffic through one tunnel. Bytes count the inner Ethernet frame, as an OVS tunnel port does. */
export class TunnelCounters {
  packetsIn = 0;
  bytesIn = 0;
  packetsOut = 0;
  bytesOut = 0;

  snapshot(): TunnelCountersSnapshot {
    return { packets_in: this.packetsIn, bytes_in: this.bytesIn, packets_out: this.packetsOut, bytes_out: this.bytesOut };
  }
}

export interface TunnelCountersSnapshot {
  packets_in: number;
  bytes_in: number;
  packets_out: number;
  bytes_out: number;
}

/** Why an inbound underlay packet was not delivered to the TUN. */
export const INBOUND_DROP_CAUSES = [
  /** The outer IPv4/UDP header (packet path from the ESP layer) is not a well-formed IPv4 UDP packet. */
  'outer_malformed',
  /** The outer UDP destination port is not the Geneve port. */
  'outer_not_geneve_port',
  /** The outer source address is no peer of ours. */
  'unknown_peer',
  /** Cleartext Geneve from a peer whose pair is encrypted (IPsec on): spoofed, or a downgrade. */
  'cleartext_refused',
  /** Shorter than the 8-byte Geneve header, or the option length runs past the packet. */
  'geneve_truncated',
  /** Geneve version other than 0 (RFC 8926 §3.4: MUST drop). */
  'geneve_version',
  /** The O bit: a control message, which carries no data for the TUN. */
  'geneve_oam',
  /** Protocol type other than 0x6558 (Transparent Ethernet Bridging). */
  'geneve_protocol',
  /** VNI other than ours. */
  'geneve_vni',
  /** An option header whose length runs past the option area. */
  'geneve_option_malformed',
  /** An option with the critical bit we do not understand (RFC 8926 §3.5: MUST drop). */
  'geneve_unknown_critical_option',
  /** The inner Ethernet frame is shorter than its header. */
  'inner_truncated',
  /** The inner ethertype is not IPv4. */
  'inner_not_ipv4',
  /** The inner IPv4 header is invalid (version, header length, total length, checksum). */
  'inner_malformed',
  /** The inner destination is not inside our pod subnet. */
  'inner_dst_not_local',
  /** The inner source is not inside the sending peer's pod subnet (spoofing, or a stale route). */
  'inner_src_not_peer',
] as const;
export type InboundDrop = (typeof INBOUND_DROP_CAUSES)[number];

/** Why an outbound packet read from the TUN was not sent. */
export const OUTBOUND_DROP_CAUSES = [
  /** Not IPv4 (the TUN can carry IPv6 if the host enables it; the overlay is IPv4). */
  'not_ipv4',
  /** An invalid IPv4 header (header length, total length). */
  'malformed',
  /** The destination is in no peer's pod subnet. */
  'no_route',
  /** The encapsulated packet would exceed the underlay MTU. */
  'too_big',
] as const;
export type OutboundDrop = (typeof OUTBOUND_DROP_CAUSES)[number];

export class DropCounters<C extends string> {
  readonly counts: Record<C, number>;

  constructor(causes: readonly C[]) {
    this.counts = Object.fromEntries(causes.map((c) => [c, 0])) as Record<C, number>;
  }

  total(): number {
    let n = 0;
    for (const v of Object.values(this.counts) as number[]) n += v;
    return n;
  }

  snapshot(): Record<C, number> {
    return { ...this.counts };
  }
}
