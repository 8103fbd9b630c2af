import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { offloadChecksums } from '../../src/native/offload.js';

// The addon's one's-complement sums (every form this CPU runs: vector and scalar) against the
// definition of RFC 1071, written out here byte pair by byte pair.

function reference(b: Uint8Array, initial: number): number {
  let sum = initial;
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (b.length % 2 === 1) sum += b[b.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

function check(b: Uint8Array, initial = 0): void {
  const want = reference(b, initial);
  const got = offloadChecksums(b, initial);
  assert.ok(Object.keys(got).includes('scalar'), 'the scalar form is always there');
  for (const [name, sum] of Object.entries(got)) assert.equal(sum, want, `${name}, ${b.length} bytes at offset ${b.byteOffset}`);
}

test('every checksum form agrees with RFC 1071 on every length around its block sizes, at every alignment', () => {
  const base = randomBytes(4096 + 64);
  for (let offset = 0; offset < 8; offset++) {
    for (let length = 0; length <= 300; length++) check(base.subarray(offset, offset + length), length * 7919);
    for (const length of [1399, 1400, 1420, 1448, 4095, 4096]) check(base.subarray(offset, offset + length));
  }
});

test('the extremes: all ones and all zeros up to 64 KiB, and inputs longer than one lane-safe chunk', () => {
  for (const fill of [0x00, 0xff, 0x80, 0x7f]) {
    for (const length of [64, 1400, 65535, 65536]) check(Buffer.alloc(length, fill), 0xffff);
  }
  check(Buffer.alloc((1 << 18) * 3 + 77, 0xff)); // several chunks of 256 KiB, all words 0xffff
  check(randomBytes((1 << 18) + 13));
});

test('any bytes and any initial sum below 2^32: the same sum as the definition', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(7), fc.nat({ max: 0xffffffff }), (bytes, offset, initial) => {
    const b = new Uint8Array(bytes.length + offset);
    b.set(bytes, offset);
    check(b.subarray(offset), initial);
  }), { numRuns: 500 });
});
