import { type Cidr, formatCidr, prefixMask, parseCidr, parseIpv4 } from '../wire/address.js';
import { checksumAdd, checksumFold, checksumVerifies } from '../wire/checksum.js';
import { ETHERNET_HEADER_LENGTH, ETHERTYPE_IPV4 } from '../wire/ethernet.js';
import {
  GENEVE_PROTO_ETHERNET, GENEVE_UDP_PORT, OVN_OPTION_CLASS, OVN_OPTION_TYPE, newGeneveHeader, parseGeneveHeader,
  understandsOvnOption, writeGeneveHeader, type GeneveParseError,
} from '../wire/geneve.js';
import { IPPROTO_UDP, IPV4_MIN_HEADER_LENGTH, isIpv4Fragment, newIpv4Header, parseIpv4Header, writeIpv4Header } from '../wire/ipv4.js';
import { newUdpHeader, parseUdpHeader } from '../wire/udp.js';
import {
  DropCounters, INBOUND_DROP_CAUSES, OUTBOUND_DROP_CAUSES, type InboundDrop, type OutboundDrop, type TunnelCountersSnapshot,
} from './counters.js';
import { ephemeralSourcePort, flowHash } from './flow-hash.js';
import { ENCAP_OVERHEAD, OFF_ETHERNET, OFF_GENEVE, OFF_OPTION, OFF_UDP, OVN_OPTION_DATA_LENGTH } from './geneve-layout.js';
import { macForIpv4 } from './mac.js';
import { type Peer, type PeerSpec, PeerTable } from './peer-table.js';
import { MAX_VNI } from './vni.js';

/**
 * The overlay's sans-I/O core for one node. Out: an IPv4 packet read from the pod TUN becomes a
 * complete IPv4(UDP(Geneve(Ethernet(packet)))) packet for the peer whose pod subnet holds the
 * destination. In: Geneve from a known peer is checked and the inner IPv4 packet handed back for
 * the TUN. No sockets, no timers; every refusal is counted by cause.
 *
 * Per packet the engine allocates one buffer on the way out (the packet it returns; Node serves it
 * from its pool) and none on the way in (the inner packet is a view into the datagram; parse
 * results live in objects reused across packets).
 */

/** This node, as the overlay needs it. */
export interface LocalSpec {
  node: string;
  systemId: string;
  /** Our underlay IPv4 address: the outer source of everything we send. */
  underlay: string;
  /** Our pod subnet: inner destinations we accept. */
  subnet: string;
  /** Our VNI: what peers put on packets to us. */
  vni: number;
}

export interface OverlayEngineOptions {
  local: LocalSpec;
  peers?: readonly PeerSpec[];
  /** Largest outer IPv4 packet the underlay carries (its MTU; default 1500). */
  underlayMtu?: number;
  /** Picks the outer UDP source port from a flow hash (default: RFC 8926's ephemeral range). */
  sourcePort?: (flowHash: number) => number;
  /** OVN's logical ingress port key written in the Geneve option (15 bits; default 1). */
  ingressPortKey?: number;
}

export interface TunnelStatus extends TunnelCountersSnapshot {
  /** `ovn-<6 hex>-0` */
  name: string;
  /** OVS-style port number, stable while the tunnel exists. */
  ofport: number;
  /** Always 'geneve' (the seed's `Tunnel Type`). */
  type: 'geneve';
  node: string;
  system_id: string;
  remote_ip: string;
  subnet: string;
  vni: number;
}

/** Status for the agent, `tunnels show` and metrics. */
export interface OverlayStatus {
  node: string;
  underlay: string;
  subnet: string;
  vni: number;
  tunnels: TunnelStatus[];
  drops: { inbound: Record<InboundDrop, number>; outbound: Record<OutboundDrop, number> };
}

/** The first 58 bytes of every packet to one peer, with the fixed part of the IPv4 checksum. */
interface EncapTemplate {
  header: Buffer;
  /** One's-complement sum of the IPv4 header with total length and checksum fields zero. */
  partialSum: number;
}

const GENEVE_ERROR_CAUSE: Record<GeneveParseError, InboundDrop> = {
  truncated: 'geneve_truncated',
  bad_version: 'geneve_version',
  bad_option_length: 'geneve_option_malformed',
  unknown_critical_option: 'geneve_unknown_critical_option',
};

export class OverlayEngine {
  readonly local: Readonly<LocalSpec>;
  readonly localSubnet: Cidr;
  readonly localUnderlay: number;
  readonly localMac: Buffer;
  readonly peers: PeerTable;
  readonly dropsIn = new DropCounters<InboundDrop>(INBOUND_DROP_CAUSES);
  readonly dropsOut = new DropCounters<OutboundDrop>(OUTBOUND_DROP_CAUSES);
  private readonly localMask: number;
  private readonly underlayMtu: number;
  private readonly ingressPortKey: number;
  private sourcePort: (flowHash: number) => number;
  private templates = new Map<Peer, EncapTemplate>();
  /** Underlay addresses of the peers whose cleartext Geneve is accepted ('all': IPsec off everywhere). */
  private cleartextFrom: ReadonlySet<number> | 'all' = 'all';
  // Parse results reused across packets: the inbound path allocates nothing.
  private readonly outerIp = newIpv4Header();
  private readonly outerUdp = newUdpHeader();
  private readonly geneve = newGeneveHeader();
  // What route() accepted last, for the writer that follows it.
  private routedPeer: Peer | null = null;
  private routedTemplate: EncapTemplate | null = null;
  private routedTotal = 0;
  private routedDst = 0;
  private routedSourcePort = 0;

  constructor(opts: OverlayEngineOptions) {
    const l = opts.local;
    const underlay = parseIpv4(l.underlay);
    if (underlay === null) throw new Error(`local underlay "${l.underlay}" is not an IPv4 address`);
    const sub = parseCidr(l.subnet);
    if (!sub.ok) throw new Error(`local subnet: ${sub.problem}`);
    if (!Number.isInteger(l.vni) || l.vni < 1 || l.vni > MAX_VNI) throw new Error(`local vni ${l.vni} is not in 1..${MAX_VNI}`);
    this.local = { ...l };
    this.localUnderlay = underlay;
    this.localSubnet = sub.cidr;
    this.localMask = prefixMask(sub.cidr.prefix);
    this.localMac = macForIpv4(sub.cidr.base + 1);
    this.underlayMtu = opts.underlayMtu ?? 1500;
    this.ingressPortKey = (opts.ingressPortKey ?? 1) & 0x7fff;
    this.sourcePort = opts.sourcePort ?? ephemeralSourcePort;
    this.peers = new PeerTable(sub.cidr, underlay);
    this.setPeers(opts.peers ?? []);
  }

  /** Replaces the peers (see PeerTable.replace); tunnels that stay keep their counters. */
  setPeers(specs: readonly PeerSpec[]): void {
    this.peers.replace(specs);
    const templates = new Map<Peer, EncapTemplate>();
    for (const p of this.peers.list()) templates.set(p, this.buildTemplate(p));
    this.templates = templates;
  }

  setSourcePortPicker(pick: (flowHash: number) => number): void {
    this.sourcePort = pick;
  }

  /**
   * Encapsulates one IPv4 packet read from the TUN. Returns the whole outer IPv4 packet for the
   * underlay, or undefined when the packet is dropped (counted in dropsOut). `allocate`, when
   * given, provides the output buffer (e.g. from an arena whose life the underlay knows).
   */
  encapsulate(packet: Buffer, allocate?: (length: number) => Buffer): Buffer | undefined {
    if (this.route(packet) === undefined) return undefined;
    const outerLen = ENCAP_OVERHEAD + this.routedTotal;
    const out = allocate ? allocate(outerLen) : Buffer.allocUnsafe(outerLen);
    this.writeEncapsulated(packet, out);
    return out;
  }

  /**
   * The first half of encapsulate(): checks a packet read from the TUN and finds the peer whose
   * pod subnet holds its destination. Returns that peer (the packet is then counted as sent to
   * it) or undefined (dropped, counted in dropsOut). One of the writers below then builds the
   * packet: writeEncapsulated (the whole outer IPv4 packet) or writeTransportPayload (all but
   * the outer IPv4 header, what ESP transport mode carries).
   */
  route(packet: Buffer): Peer | undefined {
    const len = packet.length;
    const version = len >= 1 ? packet[0]! >> 4 : 0;
    if (version !== 4) {
      this.dropsOut.counts[version === 6 ? 'not_ipv4' : 'malformed']++;
      return undefined;
    }
    const ihl = (packet[0]! & 0x0f) * 4;
    const total = len >= IPV4_MIN_HEADER_LENGTH ? packet.readUInt16BE(2) : 0;
    if (len < IPV4_MIN_HEADER_LENGTH || ihl < IPV4_MIN_HEADER_LENGTH || total < ihl || total > len) {
      this.dropsOut.counts.malformed++;
      return undefined;
    }
    const dst = packet.readUInt32BE(16);
    const peer = this.peers.lookupDestination(dst);
    if (!peer) {
      this.dropsOut.counts.no_route++;
      return undefined;
    }
    if (ENCAP_OVERHEAD + total > this.underlayMtu) {
      this.dropsOut.counts.too_big++;
      return undefined;
    }
    this.routedPeer = peer;
    this.routedTemplate = this.templates.get(peer)!;
    this.routedTotal = total;
    this.routedDst = dst;
    // The outer UDP source port from the inner flow (RFC 8926 §3.3).
    this.routedSourcePort = this.sourcePort(flowHash(packet, 0)) & 0xffff;
    peer.counters.packetsOut++;
    peer.counters.bytesOut += ETHERNET_HEADER_LENGTH + total;
    return peer;
  }

  /** The outer UDP source port of the packet route() accepted last. */
  get routedPort(): number {
    return this.routedSourcePort;
  }

  /** UDP ‖ Geneve ‖ Ethernet ‖ inner packet of the packet route() accepted last: its byte count. */
  get routedTransportLength(): number {
    return ENCAP_OVERHEAD - OFF_UDP + this.routedTotal;
  }

  /** Writes the whole outer IPv4 packet for the packet route() accepted last at out[0]. */
  writeEncapsulated(packet: Buffer, out: Buffer): void {
    const t = this.routedTemplate!;
    const outerLen = ENCAP_OVERHEAD + this.routedTotal;
    t.header.copy(out, 0, 0, ENCAP_OVERHEAD);
    // IPv4 total length and checksum: the fixed fields' sum was precomputed per peer.
    out.writeUInt16BE(outerLen, 2);
    out.writeUInt16BE(~checksumFold(t.partialSum + outerLen) & 0xffff, 10);
    this.writeAfterIpv4(packet, out, 0);
  }

  /**
   * Writes the packet route() accepted last without its outer IPv4 header — UDP ‖ Geneve ‖
   * Ethernet ‖ inner packet, routedTransportLength bytes — at out[at]: the payload ESP transport
   * mode carries, whose outer header the receiver rebuilds from its SA.
   */
  writeTransportPayload(packet: Buffer, out: Buffer, at: number): void {
    this.routedTemplate!.header.copy(out, at, OFF_UDP, ENCAP_OVERHEAD);
    this.writeAfterIpv4(packet, out, at - OFF_UDP);
  }

  /** Everything after the outer IPv4 header, for a packet whose outer header starts (or would) at out[base]. */
  private writeAfterIpv4(packet: Buffer, out: Buffer, base: number): void {
    const total = this.routedTotal;
    packet.copy(out, base + ENCAP_OVERHEAD, 0, total);
    // UDP source port from the inner flow; UDP length; checksum stays 0 (allowed for IPv4, RFC 8926 §3.3).
    out.writeUInt16BE(this.routedSourcePort, base + OFF_UDP);
    out.writeUInt16BE(ENCAP_OVERHEAD - OFF_UDP + total, base + OFF_UDP + 4);
    // OVN option: the egress port key names the destination inside the peer's subnet.
    out.writeUInt16BE((this.routedDst - this.routedPeer!.subnet.base) & 0xffff, base + OFF_OPTION + 6);
  }

  /**
   * Which peers may send cleartext Geneve (decapsulateUdp): every peer, or only those whose
   * underlay address is in the set — with IPsec on, the pairs still switching. Cleartext from
   * any other peer is dropped and counted as `cleartext_refused`.
   */
  setCleartextPeers(from: ReadonlySet<number> | 'all'): void {
    this.cleartextFrom = from;
  }

  /**
   * Decapsulates a Geneve UDP payload received from underlay address `src` (the plain path).
   * Returns the inner IPv4 packet (a view into `payload`) or undefined (counted in dropsIn).
   */
  decapsulateUdp(src: number, payload: Buffer): Buffer | undefined {
    const from = this.cleartextFrom;
    if (from !== 'all' && !from.has(src)) return this.dropIn(this.peers.lookupUnderlay(src) ? 'cleartext_refused' : 'unknown_peer');
    return this.decapsulateGeneve(src, payload, 0, payload.length);
  }

  /** decapsulateUdp for the Geneve payload of `length` bytes at `buf[start]`. */
  private decapsulateGeneve(src: number, buf: Buffer, start: number, length: number): Buffer | undefined {
    const peer = this.peers.lookupUnderlay(src);
    if (!peer) return this.dropIn('unknown_peer');
    const g = parseGeneveHeader(buf, start, length, understandsOvnOption, this.geneve);
    if (typeof g === 'string') return this.dropIn(GENEVE_ERROR_CAUSE[g]);
    if (g.oam) return this.dropIn('geneve_oam');
    if (g.protocolType !== GENEVE_PROTO_ETHERNET) return this.dropIn('geneve_protocol');
    if (g.vni !== this.local.vni) return this.dropIn('geneve_vni');
    const eth = g.payloadOffset;
    if (g.payloadLength < ETHERNET_HEADER_LENGTH) return this.dropIn('inner_truncated');
    if (buf.readUInt16BE(eth + 12) !== ETHERTYPE_IPV4) return this.dropIn('inner_not_ipv4');
    const ip = eth + ETHERNET_HEADER_LENGTH;
    const avail = start + length - ip;
    if (avail < IPV4_MIN_HEADER_LENGTH || buf[ip]! >> 4 !== 4) return this.dropIn('inner_malformed');
    const ihl = (buf[ip]! & 0x0f) * 4;
    const total = buf.readUInt16BE(ip + 2);
    if (ihl < IPV4_MIN_HEADER_LENGTH || total < ihl || total > avail || !checksumVerifies(buf, ip, ihl)) {
      return this.dropIn('inner_malformed');
    }
    if (((buf.readUInt32BE(ip + 16) & this.localMask) >>> 0) !== this.localSubnet.base) return this.dropIn('inner_dst_not_local');
    if (((buf.readUInt32BE(ip + 12) & peer.subnetMask) >>> 0) !== peer.subnet.base) return this.dropIn('inner_src_not_peer');
    peer.counters.packetsIn++;
    peer.counters.bytesIn += ETHERNET_HEADER_LENGTH + total;
    // Ethernet may pad short frames: the inner packet ends where its IPv4 total length says.
    return buf.subarray(ip, ip + total);
  }

  /**
   * Decapsulates the IP payload of a packet from `src` to `dst` with IP protocol `protocol`
   * (`length` bytes at `buf[offset]`): what ESP transport mode decrypts, without an IPv4 header.
   * The same checks and result as decapsulateIpv4 on the whole packet, minus parsing a header
   * that the ESP layer would only have rebuilt from these fields.
   */
  decapsulateTransport(src: number, dst: number, protocol: number, buf: Buffer, offset: number, length: number): Buffer | undefined {
    if (protocol !== IPPROTO_UDP) return this.dropIn('outer_malformed');
    const udp = parseUdpHeader(buf, offset, length, src, dst, this.outerUdp);
    if (typeof udp === 'string') return this.dropIn('outer_malformed');
    if (udp.dstPort !== GENEVE_UDP_PORT) return this.dropIn('outer_not_geneve_port');
    return this.decapsulateGeneve(src, buf, udp.payloadOffset, udp.payloadLength);
  }

  /**
   * Decapsulates a whole IPv4(UDP(Geneve)) packet — what the ESP layer hands back after
   * decrypting a transport-mode packet. Same result as decapsulateUdp.
   */
  decapsulateIpv4(packet: Buffer): Buffer | undefined {
    const ip = parseIpv4Header(packet, 0, packet.length, true, this.outerIp);
    if (typeof ip === 'string' || ip.protocol !== IPPROTO_UDP || isIpv4Fragment(ip)) return this.dropIn('outer_malformed');
    const udp = parseUdpHeader(packet, ip.payloadOffset, ip.payloadLength, ip.src, ip.dst, this.outerUdp);
    if (typeof udp === 'string') return this.dropIn('outer_malformed');
    if (udp.dstPort !== GENEVE_UDP_PORT) return this.dropIn('outer_not_geneve_port');
    // Decrypted by the ESP layer: not cleartext from the underlay.
    return this.decapsulateGeneve(ip.src, packet, udp.payloadOffset, udp.payloadLength);
  }

  status(): OverlayStatus {
    return {
      node: this.local.node,
      underlay: this.local.underlay,
      subnet: formatCidr(this.localSubnet),
      vni: this.local.vni,
      tunnels: this.peers.list().map((p) => ({
        name: p.tunnel,
        ofport: p.ofport,
        type: 'geneve' as const,
        node: p.spec.node,
        system_id: p.spec.systemId,
        remote_ip: p.spec.underlay,
        subnet: formatCidr(p.subnet),
        vni: p.vni,
        ...p.counters.snapshot(),
      })),
      drops: { inbound: this.dropsIn.snapshot(), outbound: this.dropsOut.snapshot() },
    };
  }

  private dropIn(cause: InboundDrop): undefined {
    this.dropsIn.counts[cause]++;
    return undefined;
  }

  private buildTemplate(peer: Peer): EncapTemplate {
    const h = Buffer.alloc(ENCAP_OVERHEAD);
    // IPv4: TOS 0, ID 0, DF (as OVS tunnels send), TTL 64, UDP; total length and checksum per packet.
    writeIpv4Header(h, 0, { src: this.localUnderlay, dst: peer.underlay, protocol: IPPROTO_UDP, payloadLength: 0, dontFragment: true, ttl: 64 });
    h.writeUInt16BE(0, 2);
    h.writeUInt16BE(0, 10);
    // UDP: source port and length per packet, destination 6081, checksum 0.
    h.writeUInt16BE(GENEVE_UDP_PORT, OFF_UDP + 2);
    // Geneve: the peer's VNI, an inner Ethernet frame, OVN's critical option (so the C bit is set);
    // the ingress port key here, the egress key per packet.
    const data = Buffer.alloc(OVN_OPTION_DATA_LENGTH);
    data.writeUInt16BE(this.ingressPortKey, 0);
    writeGeneveHeader(h, OFF_GENEVE, {
      vni: peer.vni,
      protocolType: GENEVE_PROTO_ETHERNET,
      options: [{ optionClass: OVN_OPTION_CLASS, type: OVN_OPTION_TYPE, data }],
    });
    // Ethernet: to the peer's node MAC, from ours, IPv4.
    peer.mac.copy(h, OFF_ETHERNET);
    this.localMac.copy(h, OFF_ETHERNET + 6);
    h.writeUInt16BE(ETHERTYPE_IPV4, OFF_ETHERNET + 12);
    return { header: h, partialSum: checksumAdd(0, h, 0, IPV4_MIN_HEADER_LENGTH) };
  }
}
