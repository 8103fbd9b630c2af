import { type Cidr, formatCidr, maskOf, parseCidr, parseIpv4 } from '../config/cidr.js';
import { DropCounters, INBOUND_DROP_CAUSES, OUTBOUND_DROP_CAUSES, type InboundDrop, type OutboundDrop, type TunnelCountersSnapshot } from './counters.js';
import { ephemeralSourcePort, flowHash } from './flow-hash.js';
import {
  ENCAP_OVERHEAD, ETHERTYPE_IPV4, ETHERTYPE_TEB, GENEVE_FLAG_CRITICAL, GENEVE_FLAG_OAM, GENEVE_HEADER, GENEVE_PORT,
  GENEVE_VERSION, IPV4_HEADER, OFF_ETHERNET, OFF_GENEVE, OFF_OPTION, OFF_UDP, OPTION_TYPE_CRITICAL,
  OVN_OPTION_CLASS, OVN_OPTION_TYPE, ETHERNET_HEADER,
} from './geneve-layout.js';
import { macForIpv4 } from './mac.js';
import { checksumAdd, checksumFold, checksumVerifies } from '../wire/checksum.js';
import { IPPROTO_UDP, isIpv4Fragment, newIpv4Header, parseIpv4Header, writeIpv4Header } from '../wire/ipv4.js';
import { newUdpHeader, parseUdpHeader } from '../wire/udp.js';
import { type Peer, type PeerSpec, PeerTable } from './peer-table.js';
import { MAX_VNI } from './vni.js';

/**
 * The overlay's sans-I/O core for one node. Out: an IPv4 packet read from the pod TUN becomes a
 * complete IPv4(UDP(Geneve(Ethernet(packet)))) packet for the peer whose pod subnet holds the
 * destination. In: Geneve from a known peer is checked and the inner IPv4 packet handed back for
 * the TUN. No sockets, no timers; every refusal is counted by cause.
 *
 * Per packet the engine allocates one buffer on the way out (the packet it returns; Node serves it
 * from its pool) and none on the way in (the inner packet is a view into the datagram).
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

/** Status for the agent, `tunnels show` and metrics. */
export interface OverlayStatus {
  node: string;
  underlay: string;
  subnet: string;
  vni: number;
  tunnels: Array<{
    name: string;
    node: string;
    system_id: string;
    remote_ip: string;
    subnet: string;
    vni: number;
  } & TunnelCountersSnapshot>;
  drops: { inbound: Record<InboundDrop, number>; outbound: Record<OutboundDrop, number> };
}

/** The first 58 bytes of every packet to one peer, with the fixed part of the IPv4 checksum. */
interface EncapTemplate {
  header: Buffer;
  /** One's-complement sum of the IPv4 header with total length and checksum fields zero. */
  partialSum: number;
}

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
  // Parse results reused across packets: the inbound path allocates nothing.
  private readonly outerIp = newIpv4Header();
  private readonly outerUdp = newUdpHeader();

  constructor(opts: OverlayEngineOptions) {
    const l = opts.local;
    const underlay = parseIpv4(l.underlay);
    if (underlay === undefined) throw new Error(`local underlay "${l.underlay}" is not an IPv4 address`);
    const sub = parseCidr(l.subnet);
    if (!sub.ok) throw new Error(`local subnet: ${sub.problem}`);
    if (!Number.isInteger(l.vni) || l.vni < 1 || l.vni > MAX_VNI) throw new Error(`local vni ${l.vni} is not in 1..${MAX_VNI}`);
    this.local = { ...l };
    this.localUnderlay = underlay;
    this.localSubnet = sub.cidr;
    this.localMask = maskOf(sub.cidr.prefix);
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
   * underlay, or undefined when the packet is dropped (counted in dropsOut).
   */
  encapsulate(packet: Buffer): Buffer | undefined {
    const len = packet.length;
    if (len < 1 || packet[0]! >> 4 !== 4) {
      this.dropsOut.counts[len >= 1 && packet[0]! >> 4 === 6 ? 'not_ipv4' : 'malformed']++;
      return undefined;
    }
    const ihl = (packet[0]! & 0x0f) * 4;
    const total = len >= IPV4_HEADER ? packet.readUInt16BE(2) : 0;
    if (len < IPV4_HEADER || ihl < IPV4_HEADER || total < ihl || total > len) {
      this.dropsOut.counts.malformed++;
      return undefined;
    }
    const dst = packet.readUInt32BE(16);
    const peer = this.peers.lookupDestination(dst);
    if (!peer) {
      this.dropsOut.counts.no_route++;
      return undefined;
    }
    const outerLen = ENCAP_OVERHEAD + total;
    if (outerLen > this.underlayMtu) {
      this.dropsOut.counts.too_big++;
      return undefined;
    }
    const t = this.templates.get(peer)!;
    const out = Buffer.allocUnsafe(outerLen);
    t.header.copy(out, 0, 0, ENCAP_OVERHEAD);
    packet.copy(out, ENCAP_OVERHEAD, 0, total);
    // IPv4 total length and checksum: the fixed fields' sum was precomputed per peer.
    out.writeUInt16BE(outerLen, 2);
    out.writeUInt16BE(~checksumFold(t.partialSum + outerLen) & 0xffff, 10);
    // UDP source port from the inner flow; UDP length; checksum stays 0 (allowed for IPv4, RFC 8926 §3.3).
    out.writeUInt16BE(this.sourcePort(flowHash(packet, 0)) & 0xffff, OFF_UDP);
    out.writeUInt16BE(outerLen - IPV4_HEADER, OFF_UDP + 4);
    // OVN option: the egress port key names the destination inside the peer's subnet.
    out.writeUInt16BE((dst - peer.subnet.base) & 0xffff, OFF_OPTION + 6);
    peer.counters.packetsOut++;
    peer.counters.bytesOut += ETHERNET_HEADER + total;
    return out;
  }

  /**
   * Decapsulates a Geneve UDP payload received from underlay address `src` (the plain path).
   * Returns the inner IPv4 packet (a view into `payload`) or undefined (counted in dropsIn).
   */
  decapsulateUdp(src: number, payload: Buffer): Buffer | undefined {
    const peer = this.peers.lookupUnderlay(src);
    if (!peer) return this.dropIn('unknown_peer');
    const len = payload.length;
    if (len < GENEVE_HEADER) return this.dropIn('geneve_truncated');
    const b0 = payload[0]!;
    if (b0 >> 6 !== GENEVE_VERSION) return this.dropIn('geneve_version');
    const optEnd = GENEVE_HEADER + (b0 & 0x3f) * 4;
    if (optEnd > len) return this.dropIn('geneve_truncated');
    if (payload[1]! & GENEVE_FLAG_OAM) return this.dropIn('geneve_oam');
    if (payload.readUInt16BE(2) !== ETHERTYPE_TEB) return this.dropIn('geneve_protocol');
    if (((payload[4]! << 16) | (payload[5]! << 8) | payload[6]!) !== this.local.vni) return this.dropIn('geneve_vni');
    for (let o = GENEVE_HEADER; o < optEnd;) {
      if (o + 4 > optEnd) return this.dropIn('geneve_option_malformed');
      const next = o + 4 + (payload[o + 3]! & 0x1f) * 4;
      if (next > optEnd) return this.dropIn('geneve_option_malformed');
      const type = payload[o + 2]!;
      if (type & OPTION_TYPE_CRITICAL && !(payload.readUInt16BE(o) === OVN_OPTION_CLASS && type === OVN_OPTION_TYPE)) {
        return this.dropIn('geneve_unknown_critical_option');
      }
      o = next;
    }
    const eth = optEnd;
    if (len - eth < ETHERNET_HEADER) return this.dropIn('inner_truncated');
    if (payload.readUInt16BE(eth + 12) !== ETHERTYPE_IPV4) return this.dropIn('inner_not_ipv4');
    const ip = eth + ETHERNET_HEADER;
    const avail = len - ip;
    if (avail < IPV4_HEADER || payload[ip]! >> 4 !== 4) return this.dropIn('inner_malformed');
    const ihl = (payload[ip]! & 0x0f) * 4;
    const total = payload.readUInt16BE(ip + 2);
    if (ihl < IPV4_HEADER || total < ihl || total > avail || !checksumVerifies(payload, ip, ihl)) return this.dropIn('inner_malformed');
    if (((payload.readUInt32BE(ip + 16) & this.localMask) >>> 0) !== this.localSubnet.base) return this.dropIn('inner_dst_not_local');
    if (((payload.readUInt32BE(ip + 12) & peer.subnetMask) >>> 0) !== peer.subnet.base) return this.dropIn('inner_src_not_peer');
    peer.counters.packetsIn++;
    peer.counters.bytesIn += ETHERNET_HEADER + total;
    // Ethernet may pad short frames: the inner packet ends where its IPv4 total length says.
    return payload.subarray(ip, ip + total);
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
    if (udp.dstPort !== GENEVE_PORT) return this.dropIn('outer_not_geneve_port');
    return this.decapsulateUdp(ip.src, packet.subarray(udp.payloadOffset, udp.payloadOffset + udp.payloadLength));
  }

  status(): OverlayStatus {
    return {
      node: this.local.node,
      underlay: this.local.underlay,
      subnet: formatCidr(this.localSubnet),
      vni: this.local.vni,
      tunnels: this.peers.list().map((p) => ({
        name: p.tunnel,
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
    // IPv4: TOS 0, ID 0, DF (like OVS tunnels), TTL 64, UDP; total length and checksum per packet.
    writeIpv4Header(h, 0, { src: this.localUnderlay, dst: peer.underlay, protocol: IPPROTO_UDP, payloadLength: 0, dontFragment: true, ttl: 64 });
    h.writeUInt16BE(0, 2);
    h.writeUInt16BE(0, 10);
    // UDP: source port and length per packet, destination 6081, checksum 0.
    h.writeUInt16BE(GENEVE_PORT, OFF_UDP + 2);
    // Geneve: Ver 0, Opt Len 2 words; C set (our one option is critical); TEB; the peer's VNI.
    h[OFF_GENEVE] = (GENEVE_VERSION << 6) | 2;
    h[OFF_GENEVE + 1] = GENEVE_FLAG_CRITICAL;
    h.writeUInt16BE(ETHERTYPE_TEB, OFF_GENEVE + 2);
    h.writeUIntBE(peer.vni, OFF_GENEVE + 4, 3);
    // OVN option: class 0x0102, type 0x80, length 1 word; ingress key here, egress key per packet.
    h.writeUInt16BE(OVN_OPTION_CLASS, OFF_OPTION);
    h[OFF_OPTION + 2] = OVN_OPTION_TYPE;
    h[OFF_OPTION + 3] = 1;
    h.writeUInt16BE(this.ingressPortKey, OFF_OPTION + 4);
    // Ethernet: to the peer's node MAC, from ours, IPv4.
    peer.mac.copy(h, OFF_ETHERNET);
    this.localMac.copy(h, OFF_ETHERNET + 6);
    h.writeUInt16BE(ETHERTYPE_IPV4, OFF_ETHERNET + 12);
    return { header: h, partialSum: checksumAdd(0, h, 0, IPV4_HEADER) };
  }
}
