// Packets built with our own codecs for the independent-decoder tests (tshark, scapy): the
// overlay's Geneve frames as OVN sends them, and the three kinds of datagram on UDP 4500.
import { writeIpv4Header, IPPROTO_ICMP, IPPROTO_UDP } from '../../src/wire/ipv4.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { buildIpv4UdpPacket, writeUdpHeader, UDP_HEADER_LENGTH } from '../../src/wire/udp.js';
import { writeEthernetHeader, parseMac, ETHERTYPE_IPV4, ETHERNET_HEADER_LENGTH } from '../../src/wire/ethernet.js';
import { writeGeneveHeader, geneveHeaderLength, GENEVE_UDP_PORT, OVN_OPTION_CLASS, OVN_OPTION_TYPE, type GeneveOptionFields } from '../../src/wire/geneve.js';
import { internetChecksum } from '../../src/wire/checksum.js';
import { prependNonEspMarker, natKeepalive, NAT_T_UDP_PORT } from '../../src/wire/udp-encap.js';

export const underlay = { a: '198.18.0.1', b: '198.18.0.2' };
export const pods = { a: '10.254.1.5', b: '10.254.2.7' };
export const macs = { a: '0a:58:0a:fe:01:05', b: '0a:58:0a:fe:02:07' };
export const ovnOption: GeneveOptionFields = { optionClass: OVN_OPTION_CLASS, type: OVN_OPTION_TYPE, data: Buffer.from('00010002', 'hex') };

/** Inner IPv4 packet: ICMP echo request (type 8) with identifier, sequence and payload. */
export function innerIcmpEcho(id: number, seq: number, data: Buffer): Buffer {
  const icmpLength = 8 + data.length;
  const pkt = Buffer.alloc(20 + icmpLength);
  const icmp = 20;
  pkt[icmp] = 8;
  pkt.writeUInt16BE(id, icmp + 4);
  pkt.writeUInt16BE(seq, icmp + 6);
  data.copy(pkt, icmp + 8);
  pkt.writeUInt16BE(internetChecksum(pkt, icmp, icmpLength), icmp + 2);
  writeIpv4Header(pkt, 0, { src: parseIpv4(pods.a)!, dst: parseIpv4(pods.b)!, protocol: IPPROTO_ICMP, payloadLength: icmpLength, ttl: 63, identification: 0x4242, dontFragment: true });
  return pkt;
}

/** Inner IPv4 packet: UDP with a computed checksum. */
export function innerUdp(srcPort: number, dstPort: number, data: Buffer): Buffer {
  const pkt = Buffer.alloc(20 + UDP_HEADER_LENGTH + data.length);
  data.copy(pkt, 28);
  const src = parseIpv4(pods.a)!;
  const dst = parseIpv4(pods.b)!;
  writeUdpHeader(pkt, 20, srcPort, dstPort, data.length, src, dst);
  writeIpv4Header(pkt, 0, { src, dst, protocol: IPPROTO_UDP, payloadLength: UDP_HEADER_LENGTH + data.length, ttl: 64 });
  return pkt;
}

export interface GeneveFrameSpec {
  vni: number;
  options?: GeneveOptionFields[];
  oam?: boolean;
  inner: Buffer; // an IPv4 packet, carried in an inner Ethernet frame
  srcPort?: number;
}

/** Outer IPv4 ‖ UDP (→ 6081) ‖ Geneve ‖ inner Ethernet ‖ inner IPv4 packet. */
export function geneveOverlayPacket(s: GeneveFrameSpec): Buffer {
  const gl = geneveHeaderLength(s.options);
  const payload = Buffer.alloc(gl + ETHERNET_HEADER_LENGTH + s.inner.length);
  writeGeneveHeader(payload, 0, { vni: s.vni, options: s.options, oam: s.oam });
  writeEthernetHeader(payload, gl, parseMac(macs.b)!, parseMac(macs.a)!, ETHERTYPE_IPV4);
  s.inner.copy(payload, gl + ETHERNET_HEADER_LENGTH);
  return buildIpv4UdpPacket({ src: parseIpv4(underlay.a)!, dst: parseIpv4(underlay.b)!, srcPort: s.srcPort ?? 49152, dstPort: GENEVE_UDP_PORT, ttl: 64, dontFragment: true }, payload);
}

/** IPv4 ‖ UDP 4500→4500 ‖ payload. */
export function natTPacket(payload: Buffer): Buffer {
  return buildIpv4UdpPacket({ src: parseIpv4(underlay.a)!, dst: parseIpv4(underlay.b)!, srcPort: NAT_T_UDP_PORT, dstPort: NAT_T_UDP_PORT }, payload);
}

/** A minimal IKE_SA_INIT request header (RFC 7296 §3.1), no payloads. */
export function ikeSaInitHeader(spiI: Buffer): Buffer {
  const h = Buffer.alloc(28);
  spiI.copy(h, 0);
  h[16] = 0; // next payload: none
  h[17] = 0x20; // version 2.0
  h[18] = 34; // IKE_SA_INIT
  h[19] = 0x08; // initiator
  h.writeUInt32BE(0, 20);
  h.writeUInt32BE(28, 24);
  return h;
}

/** SPI ‖ seq ‖ 8-byte IV ‖ opaque ciphertext+ICV: the shape of an ESP packet (not decryptable). */
export function espShaped(spi: number, seq: number, bodyLength: number): Buffer {
  const b = Buffer.alloc(16 + bodyLength, 0x5a);
  b.writeUInt32BE(spi, 0);
  b.writeUInt32BE(seq, 4);
  return b;
}

export const udp4500 = { prependNonEspMarker, natKeepalive };
