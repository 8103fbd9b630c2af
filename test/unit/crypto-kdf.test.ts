import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fixturesDir } from '../helpers/paths.js';
import { hmacPrf, prfPlus, type PrfHash } from '../../src/crypto/prf.js';
import { deriveChildKeys, deriveIkeSaKeys, rekeySkeyseed, skeyseed } from '../../src/crypto/ike-kdf.js';

// NIST SP 800-135 IKEv2 KDF vectors (ACVP); the fixture names its source.
interface Case {
  name: string; digest: PrfHash; ni: string; nr: string; gir: string; girNew?: string; spii: string; spir: string;
  skeyseed: string; dkm?: string; skD?: string; childSa?: string; childDh?: string; rekey?: string;
}
const file = JSON.parse(readFileSync(path.join(fixturesDir, 'ike', 'ikev2-kdf-sp800-135.json'), 'utf8')) as { cases: Case[] };
const hex = (s: string): Buffer => Buffer.from(s, 'hex');

for (const c of file.cases) {
  const prf = hmacPrf(c.digest);
  test(`SKEYSEED — ${c.name}`, () => {
    assert.equal(skeyseed(prf, hex(c.ni), hex(c.nr), hex(c.gir)).toString('hex'), c.skeyseed.toLowerCase());
  });
  if (c.dkm) {
    const dkm = hex(c.dkm);
    test(`DKM = prf+(SKEYSEED, Ni|Nr|SPIi|SPIr) and SK_* split — ${c.name}`, () => {
      const seedBytes = hex(c.skeyseed);
      const s = Buffer.concat([hex(c.ni), hex(c.nr), hex(c.spii), hex(c.spir)]);
      assert.deepEqual(prfPlus(prf, seedBytes, s, dkm.length), dkm);
      // The SK_* are consecutive slices of the same stream: check the split against the vector.
      const keys = deriveIkeSaKeys(prf, seedBytes, hex(c.ni), hex(c.nr), hex(c.spii), hex(c.spir), { encr: 36, integ: 0 });
      const p = prf.size;
      assert.deepEqual(keys.skD, dkm.subarray(0, p));
      assert.deepEqual(keys.skEi, dkm.subarray(p, p + 36));
      assert.deepEqual(keys.skEr, dkm.subarray(p + 36, p + 72));
      assert.deepEqual(keys.skPi, dkm.subarray(p + 72, 2 * p + 72));
      assert.deepEqual(keys.skPr, dkm.subarray(2 * p + 72, 3 * p + 72));
      assert.equal(keys.skAi.length, 0);
    });
  }
  if (c.childSa && c.skD) {
    const want = hex(c.childSa);
    test(`child KEYMAT without PFS — ${c.name}`, () => {
      const k = deriveChildKeys(prf, hex(c.skD!), hex(c.ni), hex(c.nr), { encr: 36, integ: 0 });
      assert.deepEqual(Buffer.concat([k.encrI2R, k.encrR2I]), want.subarray(0, 72));
    });
  }
  if (c.childDh && c.skD && c.girNew) {
    const want = hex(c.childDh);
    test(`child KEYMAT with PFS — ${c.name}`, () => {
      const k = deriveChildKeys(prf, hex(c.skD!), hex(c.ni), hex(c.nr), { encr: 20, integ: 0 }, hex(c.girNew!));
      assert.deepEqual(Buffer.concat([k.encrI2R, k.encrR2I]), want.subarray(0, 40));
    });
  }
  if (c.rekey && c.skD && c.girNew) {
    test(`rekey SKEYSEED — ${c.name}`, () => {
      assert.equal(rekeySkeyseed(prf, hex(c.skD!), hex(c.girNew!), hex(c.ni), hex(c.nr)).toString('hex'), c.rekey!.toLowerCase());
    });
  }
}
