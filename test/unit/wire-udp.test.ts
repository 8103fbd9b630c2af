import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildIpv4UdpPacket, isOffloadPartialUdpChecksum, newUdpHeader, parseUdpHeader, writeUdpHeader, writeIpv4UdpHeaders, type UdpHeader } from '../../src/wire/udp.js';
import { parseIpv4Header, type Ipv4Header } from '../../src/wire/ipv4.js';
import { parseIpv4 } from '../../src/wire/address.js';

const src = parseIpv4('192.0.2.1')!;
const dst = parseIpv4('198.51.100.7')!;

function ok<T>(r: T | string): T {
  if (typeof r === 'string') assert.fail(`expected a header, got ${r}`);
  return r;
}

test('a known UDP datagram: checksum computed over the pseudo-header verifies and matches', () => {
  // 10.0.0.1:1234 → 10.0.0.2:80, payload "hi": checksum worked by hand (RFC 768 sum):
  // pseudo 0a00 0001 0a00 0002 0011 000a + header 04d2 0050 000a 0000 + 6869 → fold → ~
  const b = Buffer.alloc(10);
  b.write('hi', 8);
  writeUdpHeader(b, 0, 1234, 80, 2, 0x0a000001, 0x0a000002);
  let s = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 0x0011 + 0x000a + 0x04d2 + 0x0050 + 0x000a + 0x6869;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  assert.equal(b.readUInt16BE(6), ~s & 0xffff);
  const h = ok(parseUdpHeader(b, 0, 10, 0x0a000001, 0x0a000002));
  assert.deepEqual([h.srcPort, h.dstPort, h.length, h.payloadOffset, h.payloadLength], [1234, 80, 10, 8, 2]);
});

test('checksum 0 means "none" on IPv4 and is accepted; a wrong checksum is not', () => {
  const b = Buffer.alloc(12);
  writeUdpHeader(b, 0, 4500, 4500, 4);
  assert.equal(b.readUInt16BE(6), 0);
  ok(parseUdpHeader(b, 0, 12, src, dst));
  writeUdpHeader(b, 0, 4500, 4500, 4, src, dst);
  ok(parseUdpHeader(b, 0, 12, src, dst));
  b[9]! ^= 0x40;
  assert.equal(parseUdpHeader(b, 0, 12, src, dst), 'bad_checksum');
  assert.equal(parseUdpHeader(b, 0, 12, src, dst + 1), 'bad_checksum');
  ok(parseUdpHeader(b, 0, 12)); // without addresses the checksum is not checked
});

test('a computed checksum of zero is sent as 0xffff (RFC 768)', () => {
  // Search a payload word that makes the sum come out to zero, then check the transmitted value.
  const b = Buffer.alloc(10);
  writeUdpHeader(b, 0, 1, 2, 2, src, dst);
  const c = b.readUInt16BE(6);
  // Adding the checksum's value to the payload word drives the folded sum to 0xffff → field 0.
  const w = (b.readUInt16BE(8) + c) % 0xffff;
  b.writeUInt16BE(w, 8);
  writeUdpHeader(b, 0, 1, 2, 2, src, dst);
  assert.equal(b.readUInt16BE(6), 0xffff);
  ok(parseUdpHeader(b, 0, 10, src, dst));
});

test('length field edge cases', () => {
  const b = Buffer.alloc(20);
  writeUdpHeader(b, 0, 1, 2, 12, src, dst);
  assert.equal(parseUdpHeader(b, 0, 7), 'truncated');
  assert.equal(parseUdpHeader(b, 0, 19), 'truncated', 'Length says 20, IP says 19');
  const into = newUdpHeader();
  const h = ok(parseUdpHeader(Buffer.concat([b, Buffer.alloc(5)]), 0, 25, src, dst, into));
  assert.equal(h, into);
  assert.equal(h.payloadLength, 12, 'trailing bytes beyond the UDP Length are ignored');
  const small = Buffer.from(b);
  small.writeUInt16BE(7, 4);
  assert.equal(parseUdpHeader(small, 0, 20), 'bad_length');
  const empty = Buffer.alloc(8);
  writeUdpHeader(empty, 0, 9, 9, 0, src, dst);
  assert.equal(ok<UdpHeader>(parseUdpHeader(empty, 0, 8, src, dst)).payloadLength, 0);
  assert.throws(() => writeUdpHeader(Buffer.alloc(70000), 0, 1, 2, 65528), RangeError);
});

test('IPv4+UDP packet build: both checksums verify, fields read back', () => {
  const payload = Buffer.from('geneve would go here');
  const pkt = buildIpv4UdpPacket({ src, dst, srcPort: 40000, dstPort: 6081, ttl: 9 }, payload);
  const ip = ok<Ipv4Header>(parseIpv4Header(pkt));
  assert.equal(ip.protocol, 17);
  assert.equal(ip.ttl, 9);
  const udp = ok<UdpHeader>(parseUdpHeader(pkt, ip.payloadOffset, ip.payloadLength, ip.src, ip.dst));
  assert.equal(udp.dstPort, 6081);
  assert.equal(pkt.subarray(udp.payloadOffset, udp.payloadOffset + udp.payloadLength).toString(), 'geneve would go here');
  const scratch = Buffer.alloc(200, 0x55);
  payload.copy(scratch, 50 + 28);
  assert.equal(writeIpv4UdpHeaders(scratch, 50, { src, dst, srcPort: 1, dstPort: 2, udpChecksum: false }, payload.length), 28 + payload.length);
  assert.equal(scratch.readUInt16BE(50 + 26), 0);
});

test('random bytes never throw', () => {
  let seed = 99;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 16;
  const into = newUdpHeader();
  for (let i = 0; i < 20000; i++) {
    const b = Buffer.alloc(rnd() % 40);
    for (let j = 0; j < b.length; j++) b[j] = rnd() & 0xff;
    parseUdpHeader(b, 0, b.length, src, dst, into);
    parseUdpHeader(b, 3, b.length, src, dst, into);
  }
});

test('offload-partial checksums (field = folded pseudo-header sum) are told apart from damage', () => {
  const b = Buffer.alloc(20);
  b.write('some payload', 8);
  writeUdpHeader(b, 0, 4500, 4500, 12, src, dst);
  assert.equal(isOffloadPartialUdpChecksum(b, 0, src, dst), false, 'a complete checksum');
  let s = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 17 + 20;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  b.writeUInt16BE(s, 6);
  assert.equal(parseUdpHeader(b, 0, 20, src, dst), 'bad_checksum');
  assert.equal(isOffloadPartialUdpChecksum(b, 0, src, dst), true);
  b.writeUInt16BE(s ^ 1, 6);
  assert.equal(isOffloadPartialUdpChecksum(b, 0, src, dst), false);
  assert.equal(isOffloadPartialUdpChecksum(b, 15, src, dst), false, 'out of range');
});
