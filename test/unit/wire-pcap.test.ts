import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_RAW, PcapBufferWriter, PcapFileWriter,
  ipv4OffsetInFrame, parsePcap, readPcapFile, type PcapCapture,
} from '../../src/wire/pcap.js';
import { parseIpv4Header, type Ipv4Header } from '../../src/wire/ipv4.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { parseUdpHeader, type UdpHeader } from '../../src/wire/udp.js';
import { parseEthernetHeader, parseMac, type EthernetHeader } from '../../src/wire/ethernet.js';

function ok<T>(r: T | string): T {
  if (typeof r === 'string') assert.fail(`expected a result, got ${r}`);
  return r;
}

test('global and record headers are laid out as libpcap writes them', () => {
  const w = new PcapBufferWriter(LINKTYPE_RAW, { snapLength: 65535 });
  w.writePacket(Buffer.from('4500', 'hex'), 1700000000123.456);
  const b = w.toBuffer();
  assert.equal(b.subarray(0, 24).toString('hex'), 'd4c3b2a1' + '0200' + '0400' + '00000000' + '00000000' + 'ffff0000' + '65000000');
  assert.equal(b.readUInt32LE(24), 1700000000);
  assert.equal(b.readUInt32LE(28), 123456);
  assert.equal(b.readUInt32LE(32), 2);
  assert.equal(b.readUInt32LE(36), 2);
  assert.equal(b.subarray(40).toString('hex'), '4500');
});

test('round trip through the reader; snap length cuts but keeps the original length', () => {
  let t = 1000;
  const w = new PcapBufferWriter(LINKTYPE_ETHERNET, { snapLength: 64, now: () => (t += 1.5) });
  const frames = [Buffer.alloc(60, 1), Buffer.alloc(100, 2), Buffer.alloc(0)];
  for (const f of frames) w.writePacket(f);
  assert.equal(w.packets, 3);
  const c = ok<PcapCapture>(parsePcap(w.toBuffer()));
  assert.equal(c.linkType, LINKTYPE_ETHERNET);
  assert.equal(c.snapLength, 64);
  assert.equal(c.nanosecond, false);
  assert.equal(c.truncated, false);
  assert.deepEqual(c.packets.map((p) => [p.data.length, p.originalLength]), [[60, 60], [64, 100], [0, 0]]);
  assert.deepEqual(c.packets.map((p) => p.timestampMs), [1001.5, 1003, 1004.5]);
  assert.ok(c.packets[1]!.data.every((x) => x === 2));
});

test('writeUdp wraps a payload into an IPv4+UDP packet with valid checksums (raw and Ethernet)', () => {
  const a = { src: parseIpv4('198.18.0.1')!, dst: parseIpv4('198.18.0.2')!, srcPort: 4500, dstPort: 4500 };
  const payload = Buffer.from('00000000' + '11'.repeat(40), 'hex');
  const raw = new PcapBufferWriter(LINKTYPE_RAW);
  raw.writeUdp(payload, a, 5);
  raw.writeUdp(payload, a, 6);
  const rc = ok<PcapCapture>(parsePcap(raw.toBuffer()));
  const ip0 = ok<Ipv4Header>(parseIpv4Header(rc.packets[0]!.data));
  const ip1 = ok<Ipv4Header>(parseIpv4Header(rc.packets[1]!.data));
  assert.notEqual(ip0.identification, ip1.identification);
  const udp = ok<UdpHeader>(parseUdpHeader(rc.packets[0]!.data, ip0.payloadOffset, ip0.payloadLength, ip0.src, ip0.dst));
  assert.equal(udp.srcPort, 4500);
  assert.ok(rc.packets[0]!.data.subarray(udp.payloadOffset).equals(payload));

  const eth = new PcapBufferWriter(LINKTYPE_ETHERNET);
  eth.writeUdp(payload, { ...a, srcMac: parseMac('02:00:00:00:00:01')!, dstMac: parseMac('02:00:00:00:00:02')! });
  const ec = ok<PcapCapture>(parsePcap(eth.toBuffer()));
  const e = ok<EthernetHeader>(parseEthernetHeader(ec.packets[0]!.data));
  assert.equal(e.src, 0x020000000001);
  const ip = ok<Ipv4Header>(parseIpv4Header(ec.packets[0]!.data, e.payloadOffset));
  ok(parseUdpHeader(ec.packets[0]!.data, ip.payloadOffset, ip.payloadLength, ip.src, ip.dst));

  const cut = new PcapBufferWriter(LINKTYPE_RAW, { snapLength: 40 });
  cut.writeUdp(payload, a, 1);
  const cc = ok<PcapCapture>(parsePcap(cut.toBuffer()));
  assert.deepEqual([cc.packets[0]!.data.length, cc.packets[0]!.originalLength], [40, 28 + payload.length]);
});

test('the file writer streams; the reader reads the file', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'wire-pcap-'));
  try {
    const file = path.join(dir, 'x.pcap');
    const w = new PcapFileWriter(file, LINKTYPE_RAW, { now: () => 42 });
    for (let i = 0; i < 1000; i++) w.writePacket(Buffer.alloc(i % 200, i & 0xff));
    await w.close();
    const c = ok<PcapCapture>(readPcapFile(file));
    assert.equal(c.packets.length, 1000);
    assert.equal(c.packets[999]!.data.length, 999 % 200);
    const bad = new PcapFileWriter(path.join(dir, 'missing', 'y.pcap'), LINKTYPE_RAW);
    bad.writePacket(Buffer.alloc(10));
    await assert.rejects(bad.close());
    assert.ok(readFileSync(file).length > 24);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reader: big-endian and nanosecond files, truncated tails, bad magic', () => {
  const be = Buffer.from('a1b23c4d' + '0002' + '0004' + '00000000' + '00000000' + '0000ffff' + '00000065' + '00000002' + '000003e8' + '00000001' + '00000001' + 'aa', 'hex');
  const c = ok<PcapCapture>(parsePcap(be));
  assert.deepEqual([c.bigEndian, c.nanosecond, c.linkType, c.packets.length], [true, true, LINKTYPE_RAW, 1]);
  assert.equal(c.packets[0]!.timestampMs, 2000.001);
  const cutRecord = ok<PcapCapture>(parsePcap(be.subarray(0, be.length - 1)));
  assert.deepEqual([cutRecord.truncated, cutRecord.packets.length], [true, 0]);
  const cutHeader = ok<PcapCapture>(parsePcap(be.subarray(0, 30)));
  assert.equal(cutHeader.truncated, true);
  assert.equal(parsePcap(Buffer.alloc(10)), 'truncated_header');
  assert.equal(parsePcap(Buffer.alloc(24)), 'bad_magic');
  const ng = Buffer.alloc(32);
  ng.writeUInt32LE(0x0a0d0d0a, 0); // pcapng section header block
  assert.equal(parsePcap(ng), 'bad_magic');
});

test('ipv4OffsetInFrame: Ethernet (tagged or not), raw, Linux cooked SLL and SLL2', () => {
  const ip = Buffer.from('4500001c', 'hex');
  const eth = Buffer.concat([Buffer.alloc(12), Buffer.from('0800', 'hex'), ip]);
  const vlan = Buffer.concat([Buffer.alloc(12), Buffer.from('810000640800', 'hex'), ip]);
  const arp = Buffer.concat([Buffer.alloc(12), Buffer.from('0806', 'hex'), ip]);
  const sll = Buffer.concat([Buffer.alloc(14), Buffer.from('0800', 'hex'), ip]);
  const sll2 = Buffer.concat([Buffer.from('08000000', 'hex'), Buffer.alloc(16), ip]);
  assert.equal(ipv4OffsetInFrame(LINKTYPE_ETHERNET, eth), 14);
  assert.equal(ipv4OffsetInFrame(LINKTYPE_ETHERNET, vlan), 18);
  assert.equal(ipv4OffsetInFrame(LINKTYPE_ETHERNET, arp), -1);
  assert.equal(ipv4OffsetInFrame(LINKTYPE_ETHERNET, Buffer.alloc(10)), -1);
  assert.equal(ipv4OffsetInFrame(LINKTYPE_RAW, ip), 0);
  assert.equal(ipv4OffsetInFrame(LINKTYPE_IPV4, ip), 0);
  assert.equal(ipv4OffsetInFrame(LINKTYPE_RAW, Buffer.from('6000', 'hex')), -1);
  assert.equal(ipv4OffsetInFrame(LINKTYPE_LINUX_SLL, sll), 16);
  assert.equal(ipv4OffsetInFrame(LINKTYPE_LINUX_SLL2, sll2), 20);
  assert.equal(ipv4OffsetInFrame(LINKTYPE_LINUX_SLL2, sll2.subarray(0, 20)), -1);
  assert.equal(ipv4OffsetInFrame(147, ip), -1);
});
