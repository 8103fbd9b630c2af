// The native AES-GCM (reused OpenSSL context) against node:crypto: each seals what the other
// opens on random keys, sizes and offsets; tampering fails on both; in-place and overlapping
// buffers give the same bytes as separate ones; the batch calls agree with the single ones.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { EspGcm } from '../../src/crypto/aes-gcm.js';
import { nativeAesGcm } from '../../src/native/aead.js';

const pair = (km: Uint8Array): { native: EspGcm; node: EspGcm } => ({
  native: new EspGcm(km, { implementation: 'native' }),
  node: new EspGcm(km, { implementation: 'node' }),
});

const packet = fc.record({
  km: fc.oneof(fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.uint8Array({ minLength: 36, maxLength: 36 })),
  iv: fc.uint8Array({ minLength: 8, maxLength: 8 }),
  aad: fc.oneof(fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.uint8Array({ minLength: 12, maxLength: 12 })),
  pt: fc.uint8Array({ minLength: 0, maxLength: 2000 }),
  off: fc.nat(40),
});

describe('native AES-GCM ↔ node:crypto', () => {
  test('the addon is loaded and EspGcm picks it by default', () => {
    assert.ok(nativeAesGcm(), 'build/Release/oi_native.node exports AesGcm');
    assert.equal(new EspGcm(Buffer.alloc(36)).implementation, 'native');
    assert.equal(new EspGcm(Buffer.alloc(36), { implementation: 'node' }).implementation, 'node');
  });

  test('native seal opens with node:crypto and node:crypto seal opens natively (random sizes, offsets)', () => {
    fc.assert(
      fc.property(packet, ({ km, iv, aad, pt, off }) => {
        const { native, node } = pair(km);
        const a = Buffer.alloc(off + pt.length + 16 + 3, 0xa5);
        const b = Buffer.alloc(off + pt.length + 16 + 3, 0xa5);
        assert.equal(native.seal(iv, aad, pt, a, off), pt.length + 16);
        assert.equal(node.seal(iv, aad, pt, b, off), pt.length + 16);
        assert.ok(a.equals(b), 'same ciphertext ‖ ICV, same untouched bytes around it');
        const ct = a.subarray(off, off + pt.length);
        const icv = a.subarray(off + pt.length, off + pt.length + 16);
        for (const [name, g] of [['native', native], ['node', node]] as const) {
          const out = Buffer.alloc(pt.length + off);
          assert.equal(g.open(iv, aad, ct, icv, out, off), pt.length, name);
          assert.ok(out.subarray(off).equals(pt), name);
        }
      }),
      { numRuns: 300 },
    );
  });

  test('a flipped bit in ciphertext, ICV, AAD or IV is rejected by both, and native leaves no plaintext behind', () => {
    fc.assert(
      fc.property(packet, fc.nat(), ({ km, iv, aad, pt }, pick) => {
        const { native, node } = pair(km);
        const sealed = Buffer.alloc(pt.length + 16);
        native.seal(iv, aad, pt, sealed, 0);
        const fields = [sealed, Buffer.from(aad), Buffer.from(iv)];
        const field = fields[pick % 3]!;
        const bit = (pick >>> 2) % (field.length * 8);
        field[bit >> 3]! ^= 1 << (bit & 7);
        for (const g of [native, node]) {
          const out = Buffer.alloc(pt.length, 0);
          assert.equal(g.open(fields[2]!, fields[1]!, sealed.subarray(0, pt.length), sealed.subarray(pt.length), out, 0), -1);
          assert.ok(out.every((x) => x === 0), 'no unauthenticated plaintext in the output');
        }
      }),
      { numRuns: 300 },
    );
  });

  test('in place and overlapping input/output give the same bytes as separate buffers', () => {
    fc.assert(
      fc.property(packet, fc.integer({ min: -24, max: 24 }), ({ km, iv, aad, pt }, shift) => {
        const { native, node } = pair(km);
        const expect = Buffer.alloc(pt.length + 16);
        node.seal(iv, aad, pt, expect, 0);
        // Plaintext at 24, output at 24 + shift, inside one buffer (shift 0: exactly in place).
        const buf = Buffer.alloc(pt.length + 64);
        buf.set(pt, 24);
        assert.equal(native.seal(iv, aad, buf.subarray(24, 24 + pt.length), buf, 24 + shift), pt.length + 16);
        assert.ok(buf.subarray(24 + shift, 24 + shift + pt.length + 16).equals(expect), `seal shift ${shift}`);
        // And back: ciphertext ‖ ICV at 24 + shift, plaintext written at 24.
        const at = 24 + shift;
        assert.equal(native.open(iv, aad, buf.subarray(at, at + pt.length), buf.subarray(at + pt.length, at + pt.length + 16), buf, 24), pt.length);
        assert.ok(buf.subarray(24, 24 + pt.length).equals(pt), `open shift ${shift}`);
      }),
      { numRuns: 300 },
    );
  });

  test('wrong argument types and sizes are refused with the same errors as node:crypto', () => {
    const { native, node } = pair(randomBytes(36));
    const iv = randomBytes(8);
    const aad = randomBytes(8);
    const pt = randomBytes(100);
    for (const g of [native, node]) {
      assert.throws(() => g.seal(iv, aad, pt, Buffer.alloc(116), -1), RangeError);
      assert.throws(() => g.seal(iv, aad, pt, Buffer.alloc(116), 117), RangeError);
      assert.throws(() => g.seal(randomBytes(12), aad, pt, Buffer.alloc(116), 0), RangeError);
      assert.throws(() => g.open(iv, aad, pt, randomBytes(16), Buffer.alloc(99), 0), RangeError);
      assert.equal(g.open(iv, aad, pt, randomBytes(16), Buffer.alloc(100), 0), -1);
    }
    assert.throws(() => native.seal(iv, aad, 'text' as unknown as Uint8Array, Buffer.alloc(116), 0), TypeError);
    assert.throws(() => native.seal(iv, aad, new Uint16Array(4) as unknown as Uint8Array, Buffer.alloc(116), 0), TypeError);
  });

  test('dispose() frees the context: later use throws, a second dispose() is harmless', () => {
    for (const implementation of ['native', 'node'] as const) {
      const g = new EspGcm(randomBytes(20), { implementation });
      const out = Buffer.alloc(32);
      g.seal(randomBytes(8), randomBytes(8), randomBytes(16), out, 0);
      g.dispose();
      g.dispose();
      assert.throws(() => g.seal(randomBytes(8), randomBytes(8), randomBytes(16), out, 0), /dispose/);
      assert.throws(() => g.open(randomBytes(8), randomBytes(8), randomBytes(16), randomBytes(16), out, 0), /dispose/);
    }
  });

  test('sealBatch/openBatch agree with seal/open and flag a forged packet', () => {
    const Native = nativeAesGcm();
    assert.ok(Native);
    const km = randomBytes(36);
    const ctx = new Native(km);
    const ref = new EspGcm(km, { implementation: 'node' });
    // Packet i in the arena: iv(8) aad(8) payload, sealed in place (ciphertext ‖ ICV over payload).
    const sizes = [0, 1, 15, 16, 17, 64, 512, 1400, 1401];
    const slot = 1500;
    const buf = randomBytes(slot * sizes.length);
    const orig = Buffer.from(buf);
    const desc = new Uint32Array(6 * sizes.length);
    sizes.forEach((n, i) => desc.set([i * slot, i * slot + 8, 8, i * slot + 16, n, i * slot + 16], 6 * i));
    assert.equal(ctx.sealBatch(buf, sizes.length, desc), sizes.length);
    sizes.forEach((n, i) => {
      const b = i * slot;
      const expect = Buffer.alloc(n + 16);
      ref.seal(orig.subarray(b, b + 8), orig.subarray(b + 8, b + 16), orig.subarray(b + 16, b + 16 + n), expect, 0);
      assert.ok(buf.subarray(b + 16, b + 32 + n).equals(expect), `packet ${i} (${n} bytes)`);
    });
    buf[5 * slot + 16 + 3]! ^= 0x10; // forge packet 5
    const results = new Int32Array(sizes.length);
    assert.equal(ctx.openBatch(buf, sizes.length, desc, results), sizes.length);
    sizes.forEach((n, i) => {
      const b = i * slot;
      if (i === 5) {
        assert.equal(results[i], -1);
        return;
      }
      assert.equal(results[i], n);
      assert.ok(buf.subarray(b + 16, b + 16 + n).equals(orig.subarray(b + 16, b + 16 + n)), `packet ${i} opens`);
    });
    // A descriptor reaching past the arena stops the batch there.
    desc[6 * 2 + 4] = buf.length;
    assert.equal(ctx.sealBatch(buf, sizes.length, desc), 2);
    ctx.dispose();
  });
});
