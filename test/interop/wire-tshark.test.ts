// Independent decoder (a): packets built with our codecs, written with our pcap writer, read by
// tshark with IP/UDP checksum validation on. tshark must decode the same fields and find every
// checksum good, and must flag a deliberately damaged checksum (so the check is not vacuous).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PcapBufferWriter, PcapFileWriter, LINKTYPE_ETHERNET, LINKTYPE_RAW } from '../../src/wire/pcap.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { parseMac } from '../../src/wire/ethernet.js';
import { writeGeneveHeader, geneveHeaderLength, GENEVE_UDP_PORT } from '../../src/wire/geneve.js';
import { writeEthernetHeader, ETHERTYPE_IPV4 } from '../../src/wire/ethernet.js';
import {
  espShaped, geneveOverlayPacket, ikeSaInitHeader, innerIcmpEcho, innerUdp, macs, natTPacket, ovnOption, pods, udp4500, underlay,
} from './wire-packets.js';

let dir = '';
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'wire-tshark-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

const CHECKS = ['-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE'];

/** One row per frame, one cell per field; a cell holds all occurrences joined by ','. */
function tsharkFields(file: string, fields: string[]): string[][] {
  const out = execFileSync('tshark', ['-n', '-r', file, ...CHECKS, '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WIRESHARK_CONFIG_DIR: dir },
  });
  return out.split('\n').filter((l) => l !== '').map((l) => l.split('|'));
}

function record(rows: string[][], fields: string[]): Record<string, string>[] {
  return rows.map((r) => Object.fromEntries(fields.map((f, i) => [f, r[i] ?? ''])));
}

const GENEVE_FIELDS = [
  'ip.src', 'ip.dst', 'ip.checksum.status', 'udp.srcport', 'udp.dstport', 'udp.checksum.status',
  'geneve.version', 'geneve.vni', 'geneve.proto_type', 'geneve.flags.oam', 'geneve.flags.critical',
  'geneve.option.class', 'geneve.option.type', 'geneve.option.type.critical', 'geneve.option.length',
  'eth.src', 'eth.dst', 'eth.type', 'icmp.type', 'icmp.ident', 'icmp.seq', 'icmp.checksum.status', 'data.data', '_ws.malformed',
];

test('Geneve overlay frames (raw IPv4 link type): tshark decodes our fields and finds all checksums good', () => {
  const w = new PcapBufferWriter(LINKTYPE_RAW);
  w.writePacket(geneveOverlayPacket({ vni: 7, options: [ovnOption], inner: innerIcmpEcho(0x1234, 1, Buffer.from('abcdefgh')) }));
  w.writePacket(geneveOverlayPacket({ vni: 0xabcdef, oam: true, srcPort: 65000, options: [{ optionClass: 0xffff, type: 0x01, data: Buffer.alloc(8, 1) }], inner: innerUdp(5555, 7777, Buffer.from('hello')) }));
  w.writePacket(geneveOverlayPacket({ vni: 0, inner: innerIcmpEcho(1, 65535, Buffer.alloc(0)) }));
  const file = path.join(dir, 'geneve-raw.pcap');
  writeFileSync(file, w.toBuffer());
  const [a, b, c] = record(tsharkFields(file, GENEVE_FIELDS), GENEVE_FIELDS);
  assert.ok(a && b && c);

  assert.equal(a['ip.src'], `${underlay.a},${pods.a}`);
  assert.equal(a['ip.dst'], `${underlay.b},${pods.b}`);
  assert.equal(a['ip.checksum.status'], '1,1', 'outer and inner IPv4 checksums good');
  assert.equal(a['udp.dstport'], String(GENEVE_UDP_PORT));
  assert.equal(a['udp.checksum.status'], '1');
  assert.equal(a['geneve.version'], '0');
  assert.equal(a['geneve.vni'], '0x000007');
  assert.equal(a['geneve.proto_type'], '0x6558');
  assert.equal(a['geneve.flags.oam'], '0');
  assert.equal(a['geneve.flags.critical'], '1');
  assert.equal(a['geneve.option.class'], '0x0102');
  assert.equal(a['geneve.option.type'], '0x80');
  assert.equal(a['geneve.option.type.critical'], '1');
  assert.equal(a['geneve.option.length']!.split(',')[0], '8', 'option header + 4 data bytes');
  assert.equal(a['eth.src'], macs.a);
  assert.equal(a['eth.dst'], macs.b);
  assert.equal(a['eth.type'], '0x0800');
  assert.equal(a['icmp.type'], '8');
  assert.equal(a['icmp.ident'], String(0x1234));
  assert.equal(a['icmp.seq'], '1');
  assert.equal(a['icmp.checksum.status'], '1');
  assert.equal(a['data.data'], Buffer.from('abcdefgh').toString('hex'));
  assert.equal(a['_ws.malformed'], '');

  assert.equal(b['geneve.vni'], '0xabcdef');
  assert.equal(b['geneve.flags.oam'], '1');
  assert.equal(b['geneve.flags.critical'], '0');
  assert.equal(b['geneve.option.class'], '0xffff');
  assert.equal(b['geneve.option.type.critical'], '0');
  assert.equal(b['geneve.option.length']!.split(',')[0], '12');
  assert.equal(b['udp.srcport'], '65000,5555');
  assert.equal(b['udp.dstport'], '6081,7777');
  assert.equal(b['udp.checksum.status'], '1,1', 'outer and inner UDP checksums good');
  assert.equal(b['ip.checksum.status'], '1,1');
  assert.equal(b['_ws.malformed'], '');

  assert.equal(c['geneve.vni'], '0x000000');
  assert.equal(c['geneve.option.class'], '');
  assert.equal(c['icmp.seq'], '65535');
  assert.equal(c['icmp.checksum.status'], '1');
  assert.equal(c['_ws.malformed'], '');
});

test('damaged checksums are flagged by tshark (the checks above are real)', () => {
  const good = geneveOverlayPacket({ vni: 7, options: [ovnOption], inner: innerIcmpEcho(9, 9, Buffer.from('x')) });
  const badIp = Buffer.from(good);
  badIp[10]! ^= 0x01;
  const badUdp = Buffer.from(good);
  badUdp[26]! ^= 0x01;
  const w = new PcapBufferWriter(LINKTYPE_RAW);
  w.writePacket(badIp);
  w.writePacket(badUdp);
  const file = path.join(dir, 'damaged.pcap');
  writeFileSync(file, w.toBuffer());
  const rows = tsharkFields(file, ['ip.checksum.status', 'udp.checksum.status']);
  assert.equal(rows[0]![0]!.split(',')[0], '0', 'bad outer IPv4 checksum');
  assert.equal(rows[1]![1]!.split(',')[0], '0', 'bad outer UDP checksum');
});

test('Ethernet link type through the streaming file writer and the synthetic UDP wrapper', async () => {
  // What a userspace daemon records: the Geneve UDP payload it sent, wrapped in IPv4+UDP+Ethernet.
  const inner = innerIcmpEcho(0x77, 3, Buffer.from('ping'));
  const gl = geneveHeaderLength([ovnOption]);
  const payload = Buffer.alloc(gl + 14 + inner.length);
  writeGeneveHeader(payload, 0, { vni: 42, options: [ovnOption] });
  writeEthernetHeader(payload, gl, parseMac(macs.b)!, parseMac(macs.a)!, ETHERTYPE_IPV4);
  inner.copy(payload, gl + 14);
  const file = path.join(dir, 'geneve-eth.pcap');
  const w = new PcapFileWriter(file, LINKTYPE_ETHERNET, { now: () => 1_700_000_000_000.5 });
  w.writeUdp(payload, { src: parseIpv4(underlay.a)!, dst: parseIpv4(underlay.b)!, srcPort: 50000, dstPort: GENEVE_UDP_PORT, srcMac: parseMac('02:00:00:00:00:01')!, dstMac: parseMac('02:00:00:00:00:02')! });
  await w.close();
  const f = ['frame.time_epoch', 'eth.src', 'eth.dst', 'ip.checksum.status', 'udp.checksum.status', 'geneve.vni', 'ip.src', 'icmp.ident', 'icmp.checksum.status', '_ws.malformed'];
  const [r] = record(tsharkFields(file, f), f);
  assert.ok(r);
  assert.match(r['frame.time_epoch']!, /^1700000000\.0005/);
  assert.equal(r['eth.src'], `02:00:00:00:00:01,${macs.a}`);
  assert.equal(r['eth.dst'], `02:00:00:00:00:02,${macs.b}`);
  assert.equal(r['ip.checksum.status'], '1,1');
  assert.equal(r['udp.checksum.status'], '1');
  assert.equal(r['geneve.vni'], '0x00002a');
  assert.equal(r['ip.src'], `${underlay.a},${pods.a}`);
  assert.equal(r['icmp.ident'], String(0x77));
  assert.equal(r['icmp.checksum.status'], '1');
  assert.equal(r['_ws.malformed'], '');
});

test('UDP 4500: NAT-keepalive, IKE behind the non-ESP marker, ESP', () => {
  const w = new PcapBufferWriter(LINKTYPE_RAW);
  w.writePacket(natTPacket(udp4500.natKeepalive()));
  w.writePacket(natTPacket(udp4500.prependNonEspMarker(ikeSaInitHeader(Buffer.from('0102030405060708', 'hex')))));
  w.writePacket(natTPacket(espShaped(0xc0ffee01, 77, 40)));
  const file = path.join(dir, 'natt.pcap');
  writeFileSync(file, w.toBuffer());
  const f = ['udp.srcport', 'udp.dstport', 'udp.checksum.status', 'ip.checksum.status', '_ws.col.Protocol', '_ws.col.Info', 'isakmp.ispi', 'isakmp.version', 'isakmp.exchangetype', 'esp.spi', 'esp.sequence', '_ws.malformed'];
  const [k, i, e] = record(tsharkFields(file, f), f);
  assert.ok(k && i && e);
  for (const r of [k, i, e]) {
    assert.equal(r['udp.srcport'], '4500');
    assert.equal(r['udp.checksum.status'], '1');
    assert.equal(r['ip.checksum.status'], '1');
    assert.equal(r['_ws.malformed'], '');
  }
  assert.match(k['_ws.col.Info']!, /NAT-keepalive/);
  assert.equal(i['_ws.col.Protocol'], 'ISAKMP');
  assert.equal(i['isakmp.ispi'], '0102030405060708');
  assert.equal(i['isakmp.version'], '0x20');
  assert.equal(i['isakmp.exchangetype'], '34');
  assert.equal(e['_ws.col.Protocol'], 'ESP');
  assert.equal(e['esp.spi'], '0xc0ffee01');
  assert.equal(e['esp.sequence'], '77');
});
