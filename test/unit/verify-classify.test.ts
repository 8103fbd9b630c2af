import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyCapture, classifyFrame, nodeAddressSet } from '../../src/cluster/verify-classify.js';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW, PcapBufferWriter, parsePcap, type PcapCapture } from '../../src/wire/pcap.js';
import { IPPROTO_ESP, IPPROTO_ICMP, writeIpv4Header } from '../../src/wire/ipv4.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { writeEthernetHeader, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../../src/wire/ethernet.js';
import { writeGeneveHeader, geneveHeaderLength, OVN_OPTION_CLASS, OVN_OPTION_TYPE } from '../../src/wire/geneve.js';
import { prependNonEspMarker, natKeepalive } from '../../src/wire/udp-encap.js';
import { buildIpv4UdpPacket } from '../../src/wire/udp.js';

// verify's classifier on synthetic captures written with our pcap writer: every class, malformed
// packets, and traffic that is not between node addresses.

const A = '192.168.7.21';
const B = '192.168.7.11';
const OUTSIDE = '192.168.7.99';
const NODES = [A, B];
const ip = (s: string) => parseIpv4(s)!;

function capture(write: (w: PcapBufferWriter) => void, linkType = LINKTYPE_ETHERNET): PcapCapture {
  const w = new PcapBufferWriter(linkType, { now: () => 1_700_000_000_000 });
  write(w);
  const c = parsePcap(w.toBuffer());
  assert.ok(typeof c !== 'string');
  return c;
}

function espPayload(spi: number, length = 100): Buffer {
  const b = Buffer.alloc(length, 0xab);
  b.writeUInt32BE(spi, 0);
  b.writeUInt32BE(1, 4);
  return b;
}

function ikePayload(): Buffer {
  const b = Buffer.alloc(80);
  b.fill(0x11, 0, 8); // SPIi
  b[17] = 0x20; // version 2.0
  b[18] = 34; // IKE_SA_INIT
  b.writeUInt32BE(80, 24);
  return b;
}

/** Geneve (OVN option, critical) around an inner Ethernet + IPv4 ICMP packet 10.254.0.2 → 10.254.1.2. */
function genevePayload(vni: number): Buffer {
  const options = [{ optionClass: OVN_OPTION_CLASS, type: OVN_OPTION_TYPE, data: Buffer.alloc(4) }];
  const gl = geneveHeaderLength(options);
  const inner = Buffer.alloc(14 + 20 + 8);
  writeEthernetHeader(inner, 0, 0x0a5800000001, 0x0a5800000002, ETHERTYPE_IPV4);
  writeIpv4Header(inner, 14, { src: ip('10.254.0.2'), dst: ip('10.254.1.2'), protocol: IPPROTO_ICMP, payloadLength: 8 });
  inner[34] = 8; // echo request
  const b = Buffer.alloc(gl + inner.length);
  writeGeneveHeader(b, 0, { vni, options });
  inner.copy(b, gl);
  return b;
}

function ethernetIp(packet: Buffer): Buffer {
  const f = Buffer.alloc(14 + packet.length);
  writeEthernetHeader(f, 0, 0x020000000001, 0x020000000002, ETHERTYPE_IPV4);
  packet.copy(f, 14);
  return f;
}

function rawIp(src: string, dst: string, protocol: number, payload: Buffer, extra: { moreFragments?: boolean; fragmentOffset?: number } = {}): Buffer {
  const p = Buffer.alloc(20 + payload.length);
  writeIpv4Header(p, 0, { src: ip(src), dst: ip(dst), protocol, payloadLength: payload.length, ...extra });
  payload.copy(p, 20);
  return p;
}

test('every class: ESP-in-UDP, raw ESP, IKE on 500 and 4500, cleartext Geneve, other', () => {
  const c = capture((w) => {
    w.writeUdp(espPayload(0xc7a82264), { src: ip(A), dst: ip(B), srcPort: 4500, dstPort: 4500 });
    w.writeUdp(espPayload(0x1fdc5612), { src: ip(B), dst: ip(A), srcPort: 4500, dstPort: 4500 });
    w.writePacket(ethernetIp(rawIp(A, B, IPPROTO_ESP, espPayload(0x9b00b718))));
    w.writeUdp(ikePayload(), { src: ip(A), dst: ip(B), srcPort: 500, dstPort: 500 });
    w.writeUdp(prependNonEspMarker(ikePayload()), { src: ip(B), dst: ip(A), srcPort: 4500, dstPort: 4500 });
    w.writeUdp(genevePayload(4), { src: ip(A), dst: ip(B), srcPort: 4194, dstPort: 6081 });
    w.writeUdp(Buffer.from('hello'), { src: ip(A), dst: ip(B), srcPort: 5000, dstPort: 53 });
    w.writePacket(ethernetIp(rawIp(A, B, IPPROTO_ICMP, Buffer.alloc(16))));
  });
  const v = classifyCapture(c, NODES);
  assert.deepEqual(v.packets, { esp: 3, ike: 2, geneve_cleartext: 1, other: 2 });
  assert.equal(v.encrypted, false, 'one cleartext Geneve packet is enough to fail');
  assert.deepEqual(v.spis, ['0x1fdc5612', '0x9b00b718', '0xc7a82264']);
  assert.deepEqual(v.other_causes, { udp_port: 1, icmp: 1 });
  assert.deepEqual(v.pairs[`${A}>${B}`], { esp: 2, ike: 1, geneve_cleartext: 1, other: 2 });
  assert.deepEqual(v.pairs[`${B}>${A}`], { esp: 1, ike: 1, geneve_cleartext: 0, other: 0 });
  assert.equal(v.cleartext_samples.length, 1);
  // tcpdump's style, as in the seed's §5.2.
  assert.match(v.cleartext_samples[0]!, /^\d\d:\d\d:\d\d\.\d{6} IP 192\.168\.7\.21\.4194 > 192\.168\.7\.11\.6081: Geneve, Flags \[C\], vni 0x4, options \[8 bytes\]: IP 10\.254\.0\.2 > 10\.254\.1\.2: ICMP, length 8$/);
});

test('only ESP and IKE: encrypted', () => {
  const c = capture((w) => {
    for (let i = 0; i < 5; i++) w.writeUdp(espPayload(0x01020304 + (i % 2)), { src: ip(i % 2 ? A : B), dst: ip(i % 2 ? B : A), srcPort: 4500, dstPort: 4500 });
    w.writeUdp(prependNonEspMarker(ikePayload()), { src: ip(A), dst: ip(B), srcPort: 4500, dstPort: 4500 });
  });
  const v = classifyCapture(c, NODES);
  assert.deepEqual(v.packets, { esp: 5, ike: 1, geneve_cleartext: 0, other: 0 });
  assert.equal(v.encrypted, true);
  assert.deepEqual(v.cleartext_samples, []);
});

test('no overlay traffic at all is not "encrypted": nothing was shown to be', () => {
  const v = classifyCapture(capture(() => {}), NODES);
  assert.deepEqual(v.packets, { esp: 0, ike: 0, geneve_cleartext: 0, other: 0 });
  assert.equal(v.encrypted, false);
});

test('traffic not between two node addresses is skipped, not judged', () => {
  const c = capture((w) => {
    w.writeUdp(genevePayload(4), { src: ip(A), dst: ip(OUTSIDE), srcPort: 4194, dstPort: 6081 });
    w.writeUdp(genevePayload(4), { src: ip('10.254.0.2'), dst: ip(B), srcPort: 4194, dstPort: 6081 });
    const arp = Buffer.alloc(42);
    writeEthernetHeader(arp, 0, 0xffffffffffff, 0x020000000001, ETHERTYPE_ARP);
    w.writePacket(arp);
    const v6 = Buffer.alloc(54);
    writeEthernetHeader(v6, 0, 0x333300000001, 0x020000000001, ETHERTYPE_IPV6);
    v6[14] = 0x60;
    w.writePacket(v6);
  });
  const v = classifyCapture(c, NODES);
  assert.deepEqual(v.packets, { esp: 0, ike: 0, geneve_cleartext: 0, other: 0 });
  assert.equal(v.skipped.not_between_nodes, 2);
  assert.equal(v.skipped.not_ipv4, 2);
  assert.equal(v.total, 4);
});

test('malformed packets are counted by cause, never thrown', () => {
  const c = capture((w) => {
    // IPv4 header cut short (Total Length says more than the frame holds).
    const cut = ethernetIp(rawIp(A, B, IPPROTO_ICMP, Buffer.alloc(40))).subarray(0, 14 + 30);
    w.writePacket(cut);
    // Version nibble 6 inside an Ethernet frame typed IPv4.
    const bad = ethernetIp(rawIp(A, B, IPPROTO_ICMP, Buffer.alloc(8)));
    bad[14] = 0x65;
    w.writePacket(bad);
    // A runt frame.
    w.writePacket(Buffer.alloc(6));
    // UDP 4500 carrying a zero SPI without an IKE header behind it, and a truncated ESP packet.
    w.writeUdp(Buffer.alloc(8), { src: ip(A), dst: ip(B), srcPort: 4500, dstPort: 4500 });
    w.writeUdp(espPayload(0x1234, 12), { src: ip(A), dst: ip(B), srcPort: 4500, dstPort: 4500 });
    // A NAT keepalive.
    w.writeUdp(natKeepalive(), { src: ip(A), dst: ip(B), srcPort: 4500, dstPort: 4500 });
    // Port 6081 with a Geneve version 1 header and one too short to be Geneve.
    const g = genevePayload(5);
    g[0] = g[0]! | 0x40;
    w.writeUdp(g, { src: ip(A), dst: ip(B), srcPort: 4194, dstPort: 6081 });
    w.writeUdp(Buffer.alloc(3), { src: ip(A), dst: ip(B), srcPort: 4194, dstPort: 6081 });
    // IKE on 500 that is not IKEv2.
    w.writeUdp(Buffer.alloc(10), { src: ip(A), dst: ip(B), srcPort: 500, dstPort: 500 });
    // A UDP header claiming more bytes than the IP packet holds.
    const udpLie = buildIpv4UdpPacket({ src: ip(A), dst: ip(B), srcPort: 4500, dstPort: 4500 }, espPayload(0x55, 40));
    udpLie.writeUInt16BE(400, 24);
    w.writePacket(ethernetIp(udpLie));
    // Raw ESP with fewer than 4 bytes.
    w.writePacket(ethernetIp(rawIp(A, B, IPPROTO_ESP, Buffer.alloc(2))));
  });
  const v = classifyCapture(c, NODES);
  assert.deepEqual(v.skipped.malformed, { ipv4_truncated: 1, ipv4_bad_version: 1 });
  assert.equal(v.skipped.not_ipv4, 1);
  assert.deepEqual(v.packets, { esp: 0, ike: 0, geneve_cleartext: 0, other: 8 });
  assert.deepEqual(v.other_causes, {
    udp4500_ike_truncated: 1,
    udp4500_esp_truncated: 1,
    nat_keepalive: 1,
    geneve_bad_version: 1,
    geneve_truncated: 1,
    ike_malformed: 1,
    udp_truncated: 1,
    esp_malformed: 1,
  } as Record<string, number>);
  // Every "other" packet has exactly one cause.
  assert.equal(Object.values(v.other_causes).reduce((a, b) => a + b, 0), v.packets.other);
});

test('fragments: a first fragment to the Geneve port counts as cleartext; later ones are other', () => {
  const udp = buildIpv4UdpPacket({ src: ip(A), dst: ip(B), srcPort: 4194, dstPort: 6081 }, genevePayload(4)).subarray(20);
  const first = rawIp(A, B, 17, Buffer.from(udp.subarray(0, 24)), { moreFragments: true });
  const later = rawIp(A, B, 17, Buffer.from(udp.subarray(24)), { fragmentOffset: 24 });
  const c = capture((w) => {
    w.writePacket(first);
    w.writePacket(later);
  }, LINKTYPE_RAW);
  const v = classifyCapture(c, NODES);
  assert.deepEqual(v.packets, { esp: 0, ike: 0, geneve_cleartext: 1, other: 1 });
  assert.deepEqual(v.other_causes, { fragment: 1 });
});

test('classifyFrame reports the SPI and node-address set rejects bad input', () => {
  const nodes = nodeAddressSet(NODES);
  const frame = ethernetIp(buildIpv4UdpPacket({ src: ip(A), dst: ip(B), srcPort: 4500, dstPort: 4500 }, espPayload(0xbdc12ddd)));
  const r = classifyFrame(LINKTYPE_ETHERNET, frame, nodes);
  assert.ok(!('skip' in r));
  assert.equal(r.kind, 'esp');
  assert.equal(r.spi, 0xbdc12ddd);
  assert.throws(() => nodeAddressSet(['192.168.7.300']), /not an IPv4 address/);
  assert.deepEqual(classifyFrame(999, frame, nodes), { skip: 'not_ipv4' });
});
