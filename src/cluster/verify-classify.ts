import { ETHERNET_HEADER_LENGTH, ETHERTYPE_IPV4 } from '../wire/ethernet.js';
import { peekEspSpi } from '../wire/esp.js';
import { GENEVE_PROTO_ETHERNET, GENEVE_UDP_PORT, parseGeneveHeader } from '../wire/geneve.js';
import { IPPROTO_ESP, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, isIpv4Fragment, newIpv4Header, parseIpv4Header } from '../wire/ipv4.js';
import { formatIpv4, parseIpv4 } from '../wire/address.js';
import { type PcapCapture, ipv4OffsetInFrame } from '../wire/pcap.js';
import { IKE_HEADER_LENGTH, IKE_UDP_PORT, NAT_T_UDP_PORT, classifyUdpEncap, newUdpEncapClass } from '../wire/udp-encap.js';
import { UDP_HEADER_LENGTH, newUdpHeader, parseUdpHeader } from '../wire/udp.js';
import { ControlPlaneJudge, type ControlPlaneCounts } from './verify-control-plane.js';

/**
 * `overlay-ipsec verify`'s judge: sorts every captured packet between two node (underlay)
 * addresses into ESP (ESP-in-UDP on 4500 with a non-zero SPI, or raw IP protocol 50), IKE (UDP 500,
 * or 4500 behind the non-ESP marker), cleartext Geneve (UDP 6081 that parses as Geneve) and other.
 * Packets not between two node addresses (ARP, IPv6, a pod's own traffic, anything else on the
 * wire) are counted apart and never judged. Pure: capture in, counts out.
 */

export type PacketClass = 'esp' | 'ike' | 'geneve_cleartext' | 'other';

export interface ClassCounts {
  esp: number;
  ike: number;
  geneve_cleartext: number;
  other: number;
}

/** Why a packet in the capture was not judged, or why a judged one went to "other". */
export interface SkippedCounts {
  /** Not IPv4 (ARP, IPv6, unknown link type). */
  not_ipv4: number;
  /** IPv4 but not between two node addresses. */
  not_between_nodes: number;
  /** An IPv4 header that does not parse (truncated, bad checksum…), by cause. */
  malformed: Record<string, number>;
}

export interface Verdict {
  packets: ClassCounts;
  /** True when ESP carried the overlay and no cleartext Geneve crossed between nodes. */
  encrypted: boolean;
  /** Per ordered node-address pair "a>b": its counts. */
  pairs: Record<string, ClassCounts>;
  /** ESP SPIs seen, as 0x… hex, sorted. */
  spis: string[];
  /** Why "other" packets were other: e.g. icmp, tcp, udp_port, fragment, keepalive, malformed_ike. */
  other_causes: Record<string, number>;
  skipped: SkippedCounts;
  /** Up to 10 cleartext Geneve packets in tcpdump's style (the seed's §5.2), the first seen. */
  cleartext_samples: string[];
  total: number;
  /**
   * With etcd: packets between a node (or the operator) and an etcd member, or between members —
   * TLS, not yet judged (unsynced), or cleartext (which makes the verdict "not encrypted").
   */
  control_plane?: ControlPlaneCounts & { pairs: Record<string, ControlPlaneCounts> };
}

/** The control plane's addresses (etcd members, the operator) and its TCP ports (etcd client, peer). */
export interface ControlPlaneAddresses {
  addresses: readonly string[];
  ports: readonly number[];
}

export interface Classified {
  kind: PacketClass;
  src: number;
  dst: number;
  /** For "other": why; for ESP: the SPI. */
  cause?: string;
  spi?: number;
  /** For cleartext Geneve: a one-line summary like tcpdump's. */
  summary?: string;
}

export type Skip = { skip: 'not_ipv4' | 'not_between_nodes' } | { skip: 'malformed'; cause: string };

const MAX_SAMPLES = 10;

export function emptyCounts(): ClassCounts {
  return { esp: 0, ike: 0, geneve_cleartext: 0, other: 0 };
}

/** Node addresses as a set of 32-bit numbers; bad entries are an error (they come from our plan). */
export function nodeAddressSet(addresses: readonly string[]): Set<number> {
  const set = new Set<number>();
  for (const a of addresses) {
    const n = parseIpv4(a);
    if (n === null) throw new Error(`not an IPv4 address: ${a}`);
    set.add(n);
  }
  return set;
}

const ip = newIpv4Header();
const udp = newUdpHeader();
const encap = newUdpEncapClass();

/** Classifies one captured frame. */
export function classifyFrame(linkType: number, frame: Uint8Array, nodes: ReadonlySet<number>): Classified | Skip {
  const off = ipv4OffsetInFrame(linkType, frame);
  if (off < 0) return { skip: 'not_ipv4' };
  // Checksums are not verified: the capture sees packets before the NIC (or veth) would fill them in.
  const h = parseIpv4Header(frame, off, frame.length - off, false, ip);
  if (typeof h === 'string') return { skip: 'malformed', cause: `ipv4_${h}` };
  if (!nodes.has(h.src) || !nodes.has(h.dst)) return { skip: 'not_between_nodes' };
  const base = { src: h.src, dst: h.dst };
  if (h.fragmentOffset !== 0) return { ...base, kind: 'other', cause: 'fragment' };
  const firstFragment = isIpv4Fragment(h);

  if (h.protocol === IPPROTO_ESP) {
    const spi = peekEspSpi(frame, h.payloadOffset, h.payloadLength);
    return spi > 0 ? { ...base, kind: 'esp', spi } : { ...base, kind: 'other', cause: 'esp_malformed' };
  }
  if (h.protocol === IPPROTO_ICMP) return { ...base, kind: 'other', cause: 'icmp' };
  if (h.protocol === IPPROTO_TCP) return { ...base, kind: 'other', cause: 'tcp' };
  if (h.protocol !== IPPROTO_UDP) return { ...base, kind: 'other', cause: `ip_proto_${h.protocol}` };

  if (h.payloadLength < UDP_HEADER_LENGTH) return { ...base, kind: 'other', cause: 'udp_truncated' };
  const srcPort = (frame[h.payloadOffset]! << 8) | frame[h.payloadOffset + 1]!;
  const dstPort = (frame[h.payloadOffset + 2]! << 8) | frame[h.payloadOffset + 3]!;
  const isPort = (p: number) => srcPort === p || dstPort === p;
  if (firstFragment) {
    // The rest of the datagram is in later fragments: judge by ports alone, erring towards
    // "cleartext" so a fragmented Geneve packet cannot slip through unnoticed.
    if (isPort(GENEVE_UDP_PORT)) return { ...base, kind: 'geneve_cleartext', summary: `${addr(h.src, srcPort)} > ${addr(h.dst, dstPort)}: UDP fragment to the Geneve port` };
    return { ...base, kind: 'other', cause: 'fragment' };
  }
  const u = parseUdpHeader(frame, h.payloadOffset, h.payloadLength, undefined, undefined, udp);
  if (typeof u === 'string') return { ...base, kind: 'other', cause: `udp_${u}` };

  if (isPort(NAT_T_UDP_PORT)) {
    const c = classifyUdpEncap(frame, u.payloadOffset, u.payloadLength, encap);
    if (c.kind === 'esp') return { ...base, kind: 'esp', spi: c.spi };
    if (c.kind === 'ike') return { ...base, kind: 'ike' };
    if (c.kind === 'keepalive') return { ...base, kind: 'other', cause: 'nat_keepalive' };
    return { ...base, kind: 'other', cause: `udp4500_${c.cause ?? 'malformed'}` };
  }
  if (isPort(IKE_UDP_PORT)) {
    // IKE on 500 carries no marker; an IKE header is at least 28 bytes, version 2.x at byte 17.
    if (u.payloadLength >= IKE_HEADER_LENGTH && frame[u.payloadOffset + 17]! >> 4 === 2) return { ...base, kind: 'ike' };
    return { ...base, kind: 'other', cause: 'ike_malformed' };
  }
  if (isPort(GENEVE_UDP_PORT)) {
    const g = parseGeneveHeader(frame, u.payloadOffset, u.payloadLength, () => true);
    if (typeof g === 'string') return { ...base, kind: 'other', cause: `geneve_${g}` };
    return { ...base, kind: 'geneve_cleartext', summary: geneveSummary(frame, h.src, srcPort, h.dst, dstPort, g) };
  }
  return { ...base, kind: 'other', cause: 'udp_port' };
}

/** Classifies a whole capture. */
export function classifyCapture(capture: PcapCapture, nodeAddresses: readonly string[], controlPlane?: ControlPlaneAddresses): Verdict {
  const nodes = nodeAddressSet(nodeAddresses);
  const judge = controlPlane ? new ControlPlaneJudge(nodes, nodeAddressSet(controlPlane.addresses), new Set(controlPlane.ports)) : undefined;
  const v: Verdict = {
    packets: emptyCounts(),
    encrypted: false,
    pairs: {},
    spis: [],
    other_causes: {},
    skipped: { not_ipv4: 0, not_between_nodes: 0, malformed: {} },
    cleartext_samples: [],
    total: capture.packets.length,
  };
  const spis = new Set<number>();
  for (const p of capture.packets) {
    const c = classifyFrame(capture.linkType, p.data, nodes);
    if ('skip' in c) {
      if (c.skip === 'not_between_nodes' && judge?.judge(capture.linkType, p.data)) continue;
      if (c.skip === 'malformed') v.skipped.malformed[c.cause] = (v.skipped.malformed[c.cause] ?? 0) + 1;
      else v.skipped[c.skip]++;
      continue;
    }
    v.packets[c.kind]++;
    const key = `${formatIpv4(c.src)}>${formatIpv4(c.dst)}`;
    (v.pairs[key] ??= emptyCounts())[c.kind]++;
    if (c.spi !== undefined) spis.add(c.spi);
    if (c.kind === 'other') v.other_causes[c.cause ?? 'unknown'] = (v.other_causes[c.cause ?? 'unknown'] ?? 0) + 1;
    if (c.kind === 'geneve_cleartext' && v.cleartext_samples.length < MAX_SAMPLES) {
      v.cleartext_samples.push(`${timeOfDay(p.timestampMs)} IP ${c.summary ?? ''}`);
    }
  }
  v.spis = [...spis].sort((a, b) => a - b).map((s) => `0x${s.toString(16).padStart(8, '0')}`);
  v.encrypted = v.packets.esp > 0 && v.packets.geneve_cleartext === 0;
  if (judge) {
    v.control_plane = { ...judge.counts, pairs: judge.pairs };
    if (judge.counts.cleartext > 0) v.encrypted = false;
  }
  return v;
}

function addr(ipNum: number, port: number): string {
  return `${formatIpv4(ipNum)}.${port}`;
}

function timeOfDay(ms: number): string {
  const d = new Date(ms);
  const us = Math.round((ms % 1000) * 1000).toString().padStart(6, '0');
  return `${d.toISOString().slice(11, 19)}.${us}`;
}

/** "a.port > b.6081: Geneve, Flags [C], vni 0x4, options [8 bytes]: IP 10.254.0.2 > 10.254.1.2: ICMP" */
function geneveSummary(
  frame: Uint8Array, src: number, srcPort: number, dst: number, dstPort: number,
  g: { criticalFlag: boolean; oam: boolean; vni: number; optionsLength: number; protocolType: number; payloadOffset: number; payloadLength: number },
): string {
  const flags = `${g.oam ? 'O' : ''}${g.criticalFlag ? 'C' : ''}`;
  let s = `${addr(src, srcPort)} > ${addr(dst, dstPort)}: Geneve, Flags [${flags}], vni 0x${g.vni.toString(16)}`;
  if (g.optionsLength > 0) s += `, options [${g.optionsLength} bytes]`;
  return s + innerSummary(frame, g.protocolType, g.payloadOffset, g.payloadLength);
}

/** The inner packet (what a capture reader sees without any key): addresses and protocol. */
function innerSummary(frame: Uint8Array, protocolType: number, offset: number, length: number): string {
  let ipOff = offset;
  let ipLen = length;
  if (protocolType === GENEVE_PROTO_ETHERNET) {
    if (length < ETHERNET_HEADER_LENGTH) return '';
    const type = (frame[offset + 12]! << 8) | frame[offset + 13]!;
    if (type !== ETHERTYPE_IPV4) return `: ethertype 0x${type.toString(16).padStart(4, '0')}`;
    ipOff += ETHERNET_HEADER_LENGTH;
    ipLen -= ETHERNET_HEADER_LENGTH;
  }
  const h = parseIpv4Header(frame, ipOff, ipLen, false);
  if (typeof h === 'string') return '';
  const proto = h.protocol === IPPROTO_ICMP ? 'ICMP' : h.protocol === IPPROTO_TCP ? 'TCP' : h.protocol === IPPROTO_UDP ? 'UDP' : `proto ${h.protocol}`;
  let ports = ['', ''];
  if ((h.protocol === IPPROTO_TCP || h.protocol === IPPROTO_UDP) && h.payloadLength >= 4 && h.fragmentOffset === 0) {
    const p = h.payloadOffset;
    ports = [`.${(frame[p]! << 8) | frame[p + 1]!}`, `.${(frame[p + 2]! << 8) | frame[p + 3]!}`];
  }
  return `: IP ${formatIpv4(h.src)}${ports[0]} > ${formatIpv4(h.dst)}${ports[1]}: ${proto}, length ${h.payloadLength}`;
}
