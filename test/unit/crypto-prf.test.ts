import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fixturesDir } from '../helpers/paths.js';
import { hmacPrf, prfPlus, type PrfHash } from '../../src/crypto/prf.js';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const vectors = JSON.parse(readFileSync(path.join(fixturesDir, 'ike', 'hmac-sha2-rfc4231.json'), 'utf8')) as {
  cases: Array<{ name: string; key: string; data: string } & Record<PrfHash, string>>;
};

for (const c of vectors.cases) {
  for (const h of ['sha256', 'sha384', 'sha512'] as const) {
    test(`HMAC-${h} RFC 4231 ${c.name}`, () => {
      assert.equal(hmacPrf(h)(hex(c.key), hex(c.data)).toString('hex'), c[h]);
    });
  }
}

test('prf+ output is T1 | T2 | ... and truncates', () => {
  const prf = hmacPrf('sha256');
  const k = Buffer.from('key');
  const s = Buffer.from('seed');
  const t1 = prf(k, Buffer.concat([s, Buffer.from([1])]));
  const t2 = prf(k, Buffer.concat([t1, s, Buffer.from([2])]));
  assert.deepEqual(prfPlus(prf, k, s, 40), Buffer.concat([t1, t2]).subarray(0, 40));
  assert.equal(prfPlus(prf, k, s, 255 * 32).length, 255 * 32);
  assert.throws(() => prfPlus(prf, k, s, 255 * 32 + 1), RangeError);
});
