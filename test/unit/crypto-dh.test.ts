import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fixturesDir } from '../helpers/paths.js';
import { dhFromPrivate, dhPublicLength, generateDh, DH_GROUPS } from '../../src/crypto/dh.js';

const v = JSON.parse(readFileSync(path.join(fixturesDir, 'ike', 'dh-vectors.json'), 'utf8'));
const hex = (s: string): Buffer => Buffer.from(s, 'hex');

test('ECP256 (group 19) RFC 5903 §8.1: public values X‖Y and shared secret X', () => {
  const e = v.ecp256;
  const i = dhFromPrivate(19, hex(e.i));
  const r = dhFromPrivate(19, hex(e.r));
  assert.equal(i.publicValue.toString('hex'), e.gix + e.giy);
  assert.equal(r.publicValue.toString('hex'), e.grx + e.gry);
  assert.equal(i.computeSecret(r.publicValue)!.toString('hex'), e.girx);
  assert.equal(r.computeSecret(i.publicValue)!.toString('hex'), e.girx);
});

test('Curve25519 (group 31) RFC 7748 §6.1', () => {
  const x = v.x25519;
  const a = dhFromPrivate(31, hex(x.alicePrivate));
  const b = dhFromPrivate(31, hex(x.bobPrivate));
  assert.equal(a.publicValue.toString('hex'), x.alicePublic);
  assert.equal(b.publicValue.toString('hex'), x.bobPublic);
  assert.equal(a.computeSecret(b.publicValue)!.toString('hex'), x.shared);
  assert.equal(b.computeSecret(a.publicValue)!.toString('hex'), x.shared);
});

test('every group agrees with itself, with fixed-length wire values', () => {
  for (const g of DH_GROUPS) {
    for (let n = 0; n < 8; n++) {
      const a = generateDh(g, randomBytes);
      const b = generateDh(g, randomBytes);
      assert.equal(a.publicValue.length, dhPublicLength(g));
      const s1 = a.computeSecret(b.publicValue);
      assert.ok(s1);
      assert.deepEqual(s1, b.computeSecret(a.publicValue));
      if (g === 14) assert.equal(s1.length, 256);
    }
  }
});

test('MODP2048 public values are left-padded to 256 bytes', () => {
  // Search for a private key whose public value has a leading zero byte (about 1 in 256).
  let found = false;
  for (let i = 0; i < 3000 && !found; i++) {
    const k = Buffer.alloc(32);
    k.writeUInt32BE(i + 1, 28);
    const a = dhFromPrivate(14, k);
    assert.equal(a.publicValue.length, 256);
    if (a.publicValue[0] === 0) found = true;
  }
  assert.ok(found, 'a public value with a leading zero byte was seen and kept at 256 bytes');
});

test('invalid peer values are refused, not thrown', () => {
  const m = generateDh(14, randomBytes);
  assert.equal(m.computeSecret(Buffer.alloc(256)), null);
  assert.equal(m.computeSecret(Buffer.concat([Buffer.alloc(255), Buffer.from([1])])), null);
  assert.equal(m.computeSecret(Buffer.alloc(10, 1)), null);
  const e = generateDh(19, randomBytes);
  assert.equal(e.computeSecret(Buffer.alloc(64, 1)), null);
  assert.equal(e.computeSecret(Buffer.alloc(65, 1)), null);
  const x = generateDh(31, randomBytes);
  assert.equal(x.computeSecret(Buffer.alloc(32)), null, 'low-order point gives all-zero secret');
  assert.equal(x.computeSecret(Buffer.alloc(31, 1)), null);
});
