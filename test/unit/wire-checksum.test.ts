import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checksumAdd, checksumFinish, checksumFold, checksumUpdateWord, checksumVerifies, internetChecksum, ipv4PseudoHeaderSum,
} from '../../src/wire/checksum.js';

test('RFC 1071 §3 worked example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2', () => {
  const b = Buffer.from('0001f203f4f5f6f7', 'hex');
  assert.equal(checksumFold(checksumAdd(0, b, 0, b.length)), 0xddf2);
  assert.equal(internetChecksum(b, 0, b.length), 0x220d);
});

test('a well-known IPv4 header checksums to b861 and verifies with the field filled in', () => {
  // 192.168.0.1 → 192.168.0.199, UDP, total length 0x73, DF, TTL 64 (the classic textbook header).
  const h = Buffer.from('450000730000400040110000c0a80001c0a800c7', 'hex');
  assert.equal(internetChecksum(h, 0, 20), 0xb861);
  h.writeUInt16BE(0xb861, 10);
  assert.ok(checksumVerifies(h, 0, 20));
  h[8] = 63;
  assert.ok(!checksumVerifies(h, 0, 20));
});

test('odd lengths pad the last byte with zero; sums over pieces equal the sum over the whole', () => {
  const b = Buffer.from('0102030405', 'hex');
  assert.equal(checksumFold(checksumAdd(0, b, 0, 5)), checksumFold(0x0102 + 0x0304 + 0x0500));
  const big = Buffer.alloc(1001);
  for (let i = 0; i < big.length; i++) big[i] = (i * 37 + 11) & 0xff;
  const whole = checksumFold(checksumAdd(0, big, 0, big.length));
  const pieces = checksumFold(checksumAdd(checksumAdd(checksumAdd(0, big, 0, 100), big, 100, 500), big, 600, 401));
  assert.equal(pieces, whole);
});

test('unfolded sums survive a 64 KiB all-ones range', () => {
  const b = Buffer.alloc(65536, 0xff);
  assert.equal(checksumFold(checksumAdd(0, b, 0, b.length)), 0xffff);
  assert.equal(checksumFinish(checksumAdd(0, b, 0, b.length)), 0);
});

test('pseudo-header sum matches summing the 12 pseudo-header bytes', () => {
  const ph = Buffer.from('0a0000011e0000020011002a', 'hex'); // 10.0.0.1 → 30.0.0.2, proto 17, length 42
  assert.equal(checksumFold(ipv4PseudoHeaderSum(0x0a000001, 0x1e000002, 17, 42)), checksumFold(checksumAdd(0, ph, 0, 12)));
});

test('RFC 1624 incremental update equals recomputation (TTL decrement on many headers)', () => {
  for (let seed = 1; seed < 500; seed++) {
    const h = Buffer.alloc(20);
    for (let i = 0; i < 20; i++) h[i] = (seed * 131 + i * 71) & 0xff;
    h.writeUInt16BE(0, 10);
    const c = internetChecksum(h, 0, 20);
    h.writeUInt16BE(c, 10);
    const oldWord = h.readUInt16BE(8);
    const newWord = (oldWord - 0x100) & 0xffff;
    h.writeUInt16BE(newWord, 8);
    const incremental = checksumUpdateWord(c, oldWord, newWord);
    h.writeUInt16BE(0, 10);
    const full = internetChecksum(h, 0, 20);
    h.writeUInt16BE(incremental, 10);
    // One's complement has two zeros; both verify. Compare by verification and value modulo that.
    assert.ok(checksumVerifies(h, 0, 20), `seed ${seed}`);
    assert.ok(incremental === full || (incremental ^ full) === 0xffff, `seed ${seed}: ${incremental} vs ${full}`);
  }
});

test('the 32-bit fast path agrees with a byte-wise reference at every offset and length', () => {
  const big = Buffer.alloc(3000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7919 + 13) & 0xff;
  const reference = (b: Uint8Array, off: number, len: number): number => {
    let s = 0;
    for (let i = 0; i < len; i += 2) s += (b[off + i]! << 8) | (i + 1 < len ? b[off + i + 1]! : 0);
    while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
    return s;
  };
  for (const off of [0, 1, 2, 3, 5, 64, 101]) {
    for (const len of [0, 1, 2, 3, 63, 64, 65, 66, 67, 200, 1399, 1400, 2800]) {
      assert.equal(checksumFold(checksumAdd(0, big, off, len)), reference(big, off, len), `offset ${off} length ${len}`);
    }
  }
  // A Buffer that is a view at an odd byteOffset of a larger ArrayBuffer.
  const view = Buffer.from(big.buffer, big.byteOffset + 1, 1500);
  assert.equal(checksumFold(checksumAdd(0, view, 3, 1201)), reference(big, 4, 1201));
});
