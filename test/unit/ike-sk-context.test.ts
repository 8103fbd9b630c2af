// The SK payload's AES-GCM: one context per key Buffer, kept while the key is, never mixed up
// between keys (a context used under the wrong key would fail every open, or worse, seal under it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { openSk, sealSk, skContextsMade } from '../../src/ike/message/sk.js';

const iv = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
};

test('many messages under one key set up one context; each key its own; opens match seals', () => {
  const a = randomBytes(36);
  const b = randomBytes(36);
  const aad = Buffer.from('header and SK payload header');
  const before = skContextsMade();
  for (let i = 1; i <= 50; i++) {
    const key = i % 2 ? a : b;
    const other = i % 2 ? b : a;
    const pt = Buffer.from(`message ${i}`);
    const body = sealSk(key, iv(i), aad, pt);
    assert.deepEqual(openSk(key, aad, body), pt);
    assert.equal(openSk(other, aad, body), null, 'the other key does not open it');
    const tampered = Buffer.from(body);
    tampered[tampered.length - 1]! ^= 1;
    assert.equal(openSk(key, aad, tampered), null, 'a bad ICV fails');
  }
  assert.equal(skContextsMade() - before, 2, 'one context per key');
});

test('a key with the same bytes in another Buffer gets a context of its own and gives the same bytes', () => {
  const key = randomBytes(20);
  const copy = Buffer.from(key);
  const before = skContextsMade();
  const aad = Buffer.from('aad');
  const pt = Buffer.from('liveness check');
  const x = sealSk(key, iv(7), aad, pt);
  const y = sealSk(copy, iv(7), aad, pt);
  assert.deepEqual(x, y);
  assert.deepEqual(openSk(copy, aad, x), pt);
  assert.equal(skContextsMade() - before, 2);
});
