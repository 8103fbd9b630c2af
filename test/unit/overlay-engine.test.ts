import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { OverlayEngine, type LocalSpec } from '../../src/overlay/engine.js';
import { INBOUND_DROP_CAUSES, OUTBOUND_DROP_CAUSES, type InboundDrop, type OutboundDrop } from '../../src/overlay/counters.js';
import type { PeerSpec } from '../../src/overlay/peer-table.js';
import { ENCAP_OVERHEAD, OFF_ETHERNET, OFF_GENEVE, OFF_INNER, OFF_OPTION, OFF_UDP } from '../../src/overlay/geneve-layout.js';
import { checksumAdd, checksumFinish } from '../../src/wire/checksum.js';
import { parseGeneveHeader, understandsOvnOption } from '../../src/wire/geneve.js';
import { parseIpv4Header, writeIpv4Header, IPPROTO_TCP, IPPROTO_ICMP, IPPROTO_UDP } from '../../src/wire/ipv4.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { parseUdpHeader } from '../../src/wire/udp.js';
import { LINKTYPE_RAW, PcapFileWriter } from '../../src/wire/pcap.js';

const A: LocalSpec = { node: 'master0', systemId: 'ab2a7c11-1111-4111-8111-111111111111', underlay: '192.168.7.21', subnet: '10.254.0.0/24', vni: 1 };
const B: LocalSpec = { node: 'worker0', systemId: '04e0df22-2222-4222-8222-222222222222', underlay: '192.168.7.11', subnet: '10.254.3.0/24', vni: 4 };
const asPeer = (l: LocalSpec): PeerSpec => ({ node: l.node, systemId: l.systemId, underlay: l.underlay, subnet: l.subnet, vni: l.vni });
const ip = (s: string) => parseIpv4(s)!;

function pair() {
  return {
    a: new OverlayEngine({ local: A, peers: [asPeer(B)], underlayMtu: 1546 }),
    b: new OverlayEngine({ local: B, peers: [asPeer(A)], underlayMtu: 1546 }),
  };
}

/** An inner IPv4 packet with a valid header: `proto` with a 4-byte port pair, then `payloadLen` bytes. */
function innerPacket(src: string, dst: string, proto = IPPROTO_TCP, sport = 38062, dport = 9001, payloadLen = 32): Buffer {
  const body = Buffer.alloc(4 + payloadLen, 0xab);
  body.writeUInt16BE(sport, 0);
  body.writeUInt16BE(dport, 2);
  const pkt = Buffer.alloc(20 + body.length);
  writeIpv4Header(pkt, 0, { src: ip(src), dst: ip(dst), protocol: proto, payloadLength: body.length, ttl: 63, dontFragment: true });
  body.copy(pkt, 20);
  return pkt;
}

function fixInnerChecksum(outer: Buffer): void {
  outer.writeUInt16BE(0, OFF_INNER + 10);
  outer.writeUInt16BE(checksumFinish(checksumAdd(0, outer, OFF_INNER, 20)), OFF_INNER + 10);
}

function onlyDrop<C extends string>(counts: Record<C, number>, cause: C): void {
  const nonzero = Object.entries(counts).filter(([, v]) => v !== 0);
  assert.deepEqual(nonzero, [[cause, 1]], `expected exactly one ${cause} drop`);
}

test('encapsulate: outer IPv4/UDP 6081/Geneve (peer VNI, C flag, OVN option)/Ethernet around the pod packet', () => {
  const { a } = pair();
  const inner = innerPacket('10.254.0.2', '10.254.3.3');
  const out = a.encapsulate(inner)!;
  assert.ok(out);
  assert.equal(out.length, ENCAP_OVERHEAD + inner.length);
  assert.equal(ENCAP_OVERHEAD, 58);

  const h = parseIpv4Header(out); // verifies the header checksum
  assert.ok(typeof h !== 'string', String(h));
  assert.equal(h.src, ip('192.168.7.21'));
  assert.equal(h.dst, ip('192.168.7.11'));
  assert.equal(h.protocol, IPPROTO_UDP);
  assert.equal(h.dontFragment, true);
  assert.equal(h.totalLength, out.length);
  const u = parseUdpHeader(out, h.payloadOffset, h.payloadLength, h.src, h.dst);
  assert.ok(typeof u !== 'string', String(u));
  assert.equal(u.dstPort, 6081);
  assert.ok(u.srcPort >= 49152 && u.srcPort <= 65535, `source port ${u.srcPort} in the ephemeral range`);
  assert.equal(u.checksum, 0);
  const g = parseGeneveHeader(out, OFF_GENEVE, out.length - OFF_GENEVE, understandsOvnOption);
  assert.ok(typeof g !== 'string', String(g));
  assert.equal(g.vni, 4, "the destination node's VNI");
  assert.equal(g.protocolType, 0x6558);
  assert.equal(g.criticalFlag, true);
  assert.equal(g.oam, false);
  assert.equal(g.optionsLength, 8, "the seed's `options [8 bytes]`");
  assert.equal(out.readUInt16BE(OFF_OPTION), 0x0102);
  assert.equal(out[OFF_OPTION + 2], 0x80);
  assert.equal(out.readUInt16BE(OFF_OPTION + 6), 3, 'egress key: the destination within the peer subnet');
  // Inner Ethernet: to 0a:58:0a:fe:03:01 (worker0's gateway), from 0a:58:0a:fe:00:01, IPv4.
  assert.equal(out.subarray(OFF_ETHERNET, OFF_ETHERNET + 6).toString('hex'), '0a580afe0301');
  assert.equal(out.subarray(OFF_ETHERNET + 6, OFF_ETHERNET + 12).toString('hex'), '0a580afe0001');
  assert.equal(out.readUInt16BE(OFF_ETHERNET + 12), 0x0800);
  assert.deepEqual(out.subarray(OFF_INNER), inner);
});

test('round trip: A encapsulates, B decapsulates (whole IPv4 packet and UDP payload paths); counters per tunnel', () => {
  const { a, b } = pair();
  const inner = innerPacket('10.254.0.2', '10.254.3.3', IPPROTO_TCP, 1234, 80, 1000);
  const out = a.encapsulate(inner)!;
  assert.deepEqual(b.decapsulateIpv4(out), inner);
  assert.deepEqual(b.decapsulateUdp(ip('192.168.7.21'), out.subarray(OFF_GENEVE)), inner);
  const back = b.encapsulate(innerPacket('10.254.3.3', '10.254.0.2', IPPROTO_TCP, 80, 1234, 10))!;
  assert.equal(parseGeneveHeader(back, OFF_GENEVE, back.length - OFF_GENEVE) === 'unknown_critical_option', true,
    'a receiver that does not understand OVN\'s option must refuse it');
  assert.ok(a.decapsulateIpv4(back));

  const sa = a.status();
  assert.equal(sa.tunnels.length, 1);
  assert.equal(sa.tunnels[0]!.name, 'ovn-04e0df-0');
  assert.deepEqual([sa.tunnels[0]!.packets_out, sa.tunnels[0]!.bytes_out, sa.tunnels[0]!.packets_in, sa.tunnels[0]!.bytes_in], [1, 14 + 1024, 1, 14 + 34]);
  const sb = b.status();
  assert.equal(sb.tunnels[0]!.name, 'ovn-ab2a7c-0');
  assert.deepEqual([sb.tunnels[0]!.packets_in, sb.tunnels[0]!.packets_out], [2, 1]);
  assert.equal(Object.values(sb.drops.inbound).reduce((x, y) => x + y, 0), 0);
});

test('Ethernet padding after the inner packet is not delivered', () => {
  const { a, b } = pair();
  const inner = innerPacket('10.254.0.2', '10.254.3.3', IPPROTO_ICMP, 0, 0, 0);
  const out = a.encapsulate(inner)!;
  const padded = Buffer.concat([out.subarray(OFF_GENEVE), Buffer.alloc(20)]);
  assert.deepEqual(b.decapsulateUdp(ip('192.168.7.21'), padded), inner);
});

test('flow hash: one flow keeps its source port, many flows spread over the ephemeral range', () => {
  const { a } = pair();
  const port = (p: Buffer) => a.encapsulate(p)!.readUInt16BE(OFF_UDP);
  const p1 = port(innerPacket('10.254.0.2', '10.254.3.3', IPPROTO_TCP, 40000, 80));
  assert.equal(port(innerPacket('10.254.0.2', '10.254.3.3', IPPROTO_TCP, 40000, 80, 500)), p1);
  const ports = new Set<number>();
  for (let i = 0; i < 200; i++) ports.add(port(innerPacket('10.254.0.2', '10.254.3.3', IPPROTO_TCP, 40000 + i, 80)));
  assert.ok(ports.size > 180, `200 flows got ${ports.size} ports`);
  for (const p of ports) assert.ok(p >= 49152 && p <= 65535);
  // An injected picker (the plain underlay's socket ports) gets the hash.
  const picked: number[] = [];
  const c = new OverlayEngine({ local: A, peers: [asPeer(B)], sourcePort: (h) => { picked.push(h); return 5555; } });
  assert.equal(c.encapsulate(innerPacket('10.254.0.2', '10.254.3.3'))!.readUInt16BE(OFF_UDP), 5555);
  assert.equal(picked.length, 1);
});

test('tshark decodes our Geneve frames: VNI, critical OVN option, inner Ethernet and the pod packet', async () => {
  const { a, b } = pair();
  const dir = mkdtempSync(path.join(tmpdir(), 'oit-cl-pcap-'));
  try {
    const file = path.join(dir, 'geneve.pcap');
    const w = new PcapFileWriter(file, LINKTYPE_RAW, { now: () => 1_700_000_000_000 });
    w.writePacket(a.encapsulate(innerPacket('10.254.0.2', '10.254.3.3', IPPROTO_TCP, 38062, 9001, 517))!);
    w.writePacket(b.encapsulate(innerPacket('10.254.3.3', '10.254.0.2', IPPROTO_TCP, 9001, 38062, 0))!);
    await w.close();
    const r = spawnSync('tshark', ['-r', file, '-o', 'ip.check_checksum:TRUE', '-T', 'fields', '-E', 'separator=|',
      '-e', 'ip.src', '-e', 'ip.dst', '-e', 'ip.checksum.status', '-e', 'udp.dstport', '-e', 'geneve.version', '-e', 'geneve.vni',
      '-e', 'geneve.flags.critical', '-e', 'geneve.proto_type', '-e', 'geneve.option.class', '-e', 'geneve.option.type',
      '-e', 'geneve.option.length', '-e', 'eth.dst', '-e', 'eth.src', '-e', 'eth.type', '-e', 'tcp.srcport', '-e', 'tcp.dstport',
      '-e', 'geneve.option.unknown.data'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.trim().split('\n').map((l) => l.split('|'));
    assert.equal(rows.length, 2);
    const [r0, r1] = rows as [string[], string[]];
    assert.equal(r0[0], '192.168.7.21,10.254.0.2');
    assert.equal(r0[1], '192.168.7.11,10.254.3.3');
    assert.equal(r0[2], '1,1', 'outer and inner IPv4 checksums good (status 1 = good)');
    assert.equal(r0[3], '6081');
    assert.equal(r0[4], '0');
    assert.equal(Number(r0[5]), 4);
    assert.match(r0[6]!, /^(1|True)$/, 'critical flag set');
    assert.equal(Number(r0[7]), 0x6558);
    assert.equal(Number(r0[8]), 0x0102);
    assert.equal(Number(r0[9]), 0x80);
    // tshark uses geneve.option.length for the options' total too: "Options: (8 bytes)", then the option's 8.
    assert.equal(r0[10], '8,8');
    assert.equal(r0[11], '0a:58:0a:fe:03:01');
    assert.equal(r0[12], '0a:58:0a:fe:00:01');
    assert.equal(Number(r0[13]), 0x0800);
    assert.deepEqual([r0[14], r0[15]], ['38062', '9001']);
    assert.equal(r0[16], '00010003', 'OVN option data: ingress key 1, egress key 3 (10.254.3.3 in its /24)');
    assert.equal(Number(r1[5]), 1, 'the reverse direction carries the other node\'s VNI (seed §5.2: 0x4 one way, 0xd back)');
    assert.equal(r1[0], '192.168.7.11,10.254.3.3');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- drops, one cause at a time ----

type Mutation = (outer: Buffer) => Buffer;
const inboundCases: Array<[InboundDrop, Mutation, 'ipv4' | 'udp-unknown' | 'udp-strict']> = [
  ['outer_malformed', (o) => o.subarray(0, 24), 'ipv4'],
  ['outer_malformed', (o) => { o[9] = IPPROTO_TCP; o.writeUInt16BE(0, 10); o.writeUInt16BE(checksumFinish(checksumAdd(0, o, 0, 20)), 10); return o; }, 'ipv4'],
  ['outer_not_geneve_port', (o) => { o.writeUInt16BE(4789, OFF_UDP + 2); return o; }, 'ipv4'],
  ['unknown_peer', (o) => o, 'udp-unknown'],
  ['cleartext_refused', (o) => o, 'udp-strict'],
  ['geneve_truncated', (o) => { const n = o.subarray(0, OFF_GENEVE + 12); n.writeUInt16BE(n.length, 2); n.writeUInt16BE(n.length - 20, OFF_UDP + 4); refreshOuter(n); return n; }, 'ipv4'],
  ['geneve_version', (o) => { o[OFF_GENEVE] = o[OFF_GENEVE]! | 0x40; return o; }, 'ipv4'],
  ['geneve_oam', (o) => { o[OFF_GENEVE + 1] = o[OFF_GENEVE + 1]! | 0x80; return o; }, 'ipv4'],
  ['geneve_protocol', (o) => { o.writeUInt16BE(0x0800, OFF_GENEVE + 2); return o; }, 'ipv4'],
  ['geneve_vni', (o) => { o.writeUIntBE(13, OFF_GENEVE + 4, 3); return o; }, 'ipv4'],
  ['geneve_option_malformed', (o) => { o[OFF_OPTION + 3] = 2; return o; }, 'ipv4'],
  ['geneve_unknown_critical_option', (o) => { o.writeUInt16BE(0x0103, OFF_OPTION); return o; }, 'ipv4'],
  ['inner_truncated', (o) => { const n = o.subarray(0, OFF_ETHERNET + 10); n.writeUInt16BE(n.length, 2); n.writeUInt16BE(n.length - 20, OFF_UDP + 4); refreshOuter(n); return n; }, 'ipv4'],
  ['inner_not_ipv4', (o) => { o.writeUInt16BE(0x86dd, OFF_ETHERNET + 12); return o; }, 'ipv4'],
  ['inner_malformed', (o) => { o[OFF_INNER + 10] = o[OFF_INNER + 10]! ^ 0xff; return o; }, 'ipv4'],
  ['inner_malformed', (o) => { o.writeUInt16BE(2000, OFF_INNER + 2); fixInnerChecksum(o); return o; }, 'ipv4'],
  ['inner_dst_not_local', (o) => { o.writeUInt32BE(ip('10.254.7.9'), OFF_INNER + 16); fixInnerChecksum(o); return o; }, 'ipv4'],
  ['inner_src_not_peer', (o) => { o.writeUInt32BE(ip('10.254.1.5'), OFF_INNER + 12); fixInnerChecksum(o); return o; }, 'ipv4'],
];

function refreshOuter(o: Buffer): void {
  o.writeUInt16BE(0, 10);
  o.writeUInt16BE(checksumFinish(checksumAdd(0, o, 0, 20)), 10);
}

test('every inbound drop cause is counted, and only it', () => {
  const seen = new Set<InboundDrop>();
  for (const [cause, mutate, path_] of inboundCases) {
    const { a, b } = pair();
    const outer = mutate(Buffer.from(a.encapsulate(innerPacket('10.254.0.2', '10.254.3.3'))!));
    // udp-strict: cleartext from the peer itself while its pair is encrypted (no peer may send plain).
    if (path_ === 'udp-strict') b.setCleartextPeers(new Set());
    const r = path_ === 'ipv4' ? b.decapsulateIpv4(outer) : b.decapsulateUdp(path_ === 'udp-strict' ? ip(A.underlay) : ip('192.168.7.99'), outer.subarray(OFF_GENEVE));
    assert.equal(r, undefined, `${cause} must drop`);
    onlyDrop(b.dropsIn.counts, cause);
    assert.equal(b.status().tunnels[0]!.packets_in, 0);
    seen.add(cause);
  }
  assert.deepEqual([...seen].sort(), [...INBOUND_DROP_CAUSES].sort(), 'a test for every inbound cause');
});

test('an unknown non-critical option is skipped (RFC 8926 §3.5); the packet is delivered', () => {
  const { a, b } = pair();
  const inner = innerPacket('10.254.0.2', '10.254.3.3');
  const out = a.encapsulate(inner)!;
  // Insert a 4-byte non-critical option (class 0xffff, type 0x01, no data) after OVN's.
  const geneve = Buffer.from(out.subarray(OFF_GENEVE));
  const withOpt = Buffer.concat([geneve.subarray(0, 16), Buffer.from([0xff, 0xff, 0x01, 0x00]), geneve.subarray(16)]);
  withOpt[0] = (withOpt[0]! & 0xc0) | 3;
  assert.deepEqual(b.decapsulateUdp(ip('192.168.7.21'), withOpt), inner);
});

test('every outbound drop cause is counted, and only it', () => {
  const v6 = Buffer.alloc(40);
  v6[0] = 0x60;
  const badLen = innerPacket('10.254.0.2', '10.254.3.3');
  badLen.writeUInt16BE(badLen.length + 1, 2);
  const cases: Array<[OutboundDrop, Buffer]> = [
    ['not_ipv4', v6],
    ['malformed', Buffer.from([0x45, 0, 0])],
    ['malformed', badLen],
    ['malformed', Buffer.alloc(0)],
    ['no_route', innerPacket('10.254.0.2', '10.254.9.9')],
    ['no_route', innerPacket('10.254.0.2', '10.254.0.3')],
    ['too_big', innerPacket('10.254.0.2', '10.254.3.3', IPPROTO_UDP, 1, 2, 1546 - 58 - 24 + 1)],
  ];
  const seen = new Set<OutboundDrop>();
  for (const [cause, pkt] of cases) {
    const { a } = pair();
    assert.equal(a.encapsulate(pkt), undefined, cause);
    onlyDrop(a.dropsOut.counts, cause);
    seen.add(cause);
  }
  assert.deepEqual([...seen].sort(), [...OUTBOUND_DROP_CAUSES].sort());
  // The largest packet that fits the underlay MTU goes.
  const { a } = pair();
  assert.equal(a.encapsulate(innerPacket('10.254.0.2', '10.254.3.3', IPPROTO_UDP, 1, 2, 1546 - 58 - 24))!.length, 1546);
});

test('random garbage never throws and is always dropped', () => {
  const { b } = pair();
  let seed = 7;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (let i = 0; i < 3000; i++) {
    const buf = Buffer.alloc(Math.floor(rnd() * 120));
    for (let j = 0; j < buf.length; j++) buf[j] = Math.floor(rnd() * 256);
    if (buf.length > 0) buf[0] = i % 2 ? 0x45 : buf[0]!;
    assert.equal(b.decapsulateIpv4(buf), undefined);
    assert.equal(b.decapsulateUdp(ip('192.168.7.21'), buf), undefined);
    b.encapsulate(buf);
  }
  assert.equal(b.dropsIn.total(), 6000);
});

test('decapsulateTransport (the IP payload plus the addresses ESP transport mode gives) agrees with decapsulateIpv4, cause for cause', () => {
  const { a, b } = pair();
  const inner = innerPacket('10.254.0.2', '10.254.3.3', IPPROTO_TCP, 1234, 80, 700);
  const out = a.encapsulate(inner)!;
  const room = Buffer.alloc(out.length + 12);
  out.copy(room, 7, 20); // the payload somewhere inside a larger buffer
  assert.deepEqual(b.decapsulateTransport(ip('192.168.7.21'), ip('192.168.7.11'), IPPROTO_UDP, room, 7, out.length - 20), inner);
  assert.equal(b.status().tunnels[0]!.packets_in, 1);
  // Every inbound cause the whole-packet path can reach through a valid outer header, and the outer ones of its own.
  for (const [cause, mutate, path_] of inboundCases) {
    if (path_ !== 'ipv4') continue;
    const m = mutate(Buffer.from(a.encapsulate(innerPacket('10.254.0.2', '10.254.3.3'))!));
    const hdr = parseIpv4Header(m, 0, m.length, false);
    if (typeof hdr === 'string' || hdr.protocol !== IPPROTO_UDP || hdr.fragmentOffset !== 0 || hdr.moreFragments) continue;
    const x = pair().b;
    const viaIpv4 = x.decapsulateIpv4(Buffer.from(m));
    const y = pair().b;
    const viaTransport = y.decapsulateTransport(hdr.src, hdr.dst, hdr.protocol, m, hdr.payloadOffset, hdr.payloadLength);
    assert.deepEqual(viaTransport, viaIpv4, cause);
    assert.deepEqual(y.dropsIn.snapshot(), x.dropsIn.snapshot(), cause);
  }
  const c = pair().b;
  assert.equal(c.decapsulateTransport(ip('192.168.7.21'), ip('192.168.7.11'), IPPROTO_TCP, room, 7, out.length - 20), undefined);
  assert.equal(c.decapsulateTransport(ip('192.168.7.21'), ip('192.168.7.11'), IPPROTO_UDP, room, 7, 5), undefined);
  assert.equal(c.dropsIn.counts.outer_malformed, 2);
  for (let n = 0; n < 200; n++) {
    const junk = Buffer.from(Array.from({ length: n }, () => Math.floor(Math.random() * 256)));
    assert.equal(c.decapsulateTransport(ip('192.168.7.21'), ip('192.168.7.11'), IPPROTO_UDP, junk, 0, junk.length), undefined);
  }
});
