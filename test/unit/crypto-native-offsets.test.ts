// sealAt / openAt (spans given as offsets, the data path's per-packet calls) against seal / open:
// the same bytes for both implementations, ESP-shaped (IV and AAD inside the packet), and spans
// outside a buffer refused — an error for the caller's own buffers, -1 for a packet's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EspGcm } from '../../src/crypto/aes-gcm.js';

const input = fc.record({
  km: fc.oneof(fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.uint8Array({ minLength: 36, maxLength: 36 })),
  pt: fc.uint8Array({ maxLength: 1600 }),
  aadLength: fc.constantFrom(8, 12),
  inOff: fc.nat(30),
  outOff: fc.nat(30),
});

test('sealAt and openAt give the bytes seal and open give, natively and with node:crypto', () => {
  fc.assert(fc.property(input, ({ km, pt, aadLength, inOff, outOff }) => {
    for (const implementation of ['native', 'node'] as const) {
      const g = new EspGcm(km, { implementation });
      // An ESP packet at outOff: header (SPI ‖ seq, the AAD without ESN), IV, ciphertext ‖ ICV.
      const aad = Buffer.alloc(12, 0x11);
      const src = Buffer.concat([Buffer.alloc(inOff, 0xee), Buffer.from(pt)]);
      const a = Buffer.alloc(outOff + 16 + pt.length + 16, 0x5a);
      a.fill(0x42, outOff + 8, outOff + 16); // the IV
      const b = Buffer.from(a);
      assert.equal(g.sealAt(a, outOff + 8, aad, aadLength, src, inOff, pt.length, a, outOff + 16), pt.length + 16);
      g.seal(b.subarray(outOff + 8, outOff + 16), aad.subarray(0, aadLength), pt, b, outOff + 16);
      assert.ok(a.equals(b));
      const out = Buffer.alloc(pt.length + 4);
      assert.equal(g.openAt(a, outOff + 8, aad, aadLength, outOff + 16, pt.length, outOff + 16 + pt.length, out, 4), pt.length);
      assert.deepEqual(out.subarray(4), Buffer.from(pt));
      a[a.length - 1] = a[a.length - 1]! ^ 1;
      assert.equal(g.openAt(a, outOff + 8, aad, aadLength, outOff + 16, pt.length, outOff + 16 + pt.length, out, 4), -1);
    }
  }), { numRuns: 200 });
});

test('spans outside their buffers: RangeError for ours, -1 for a packet\'s', () => {
  const g = new EspGcm(Buffer.alloc(36, 7), { implementation: 'native' });
  const aad = Buffer.alloc(8);
  const pkt = Buffer.alloc(100);
  assert.throws(() => g.sealAt(pkt, 95, aad, 8, pkt, 0, 10, Buffer.alloc(64), 0), RangeError);
  assert.throws(() => g.sealAt(pkt, 0, aad, 9, pkt, 0, 10, Buffer.alloc(64), 0), RangeError);
  assert.throws(() => g.sealAt(pkt, 0, aad, 8, pkt, 95, 10, Buffer.alloc(64), 0), RangeError);
  assert.throws(() => g.sealAt(pkt, 0, aad, 8, pkt, 0, 10, Buffer.alloc(25), 0), RangeError);
  assert.throws(() => g.sealAt(pkt, -1, aad, 8, pkt, 0, 10, Buffer.alloc(64), 0), RangeError);
  assert.equal(g.openAt(pkt, 95, aad, 8, 16, 10, 26, Buffer.alloc(64), 0), -1);
  assert.equal(g.openAt(pkt, 8, aad, 8, 16, 90, 26, Buffer.alloc(128), 0), -1);
  assert.equal(g.openAt(pkt, 8, aad, 8, 16, 10, 90, Buffer.alloc(64), 0), -1);
  assert.throws(() => g.openAt(pkt, 8, aad, 8, 16, 10, 26, Buffer.alloc(5), 0), RangeError);
  assert.throws(() => g.openAt(pkt, 8, aad, 13, 16, 10, 26, Buffer.alloc(64), 0), RangeError);
});
