// Known-answer tests for EspGcm: published AES-GCM vectors (NIST CAVP, the GCM specification,
// draft-mcgrew-gcm-test-01 ESP packets, Wycheproof), each driven the way ESP uses the cipher:
// key material = AES key ‖ 4-byte salt, per-packet nonce = salt ‖ 8-byte IV (RFC 4106).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fixturesDir } from '../helpers/paths.js';
import { EspGcm, GCM_ICV_LENGTH, type GcmImplementation } from '../../src/crypto/aes-gcm.js';

const gcmDir = path.join(fixturesDir, 'gcm');

interface Vector {
  name: string;
  key: Buffer;
  iv: Buffer; // the full 12-byte GCM IV
  aad: Buffer;
  pt: Buffer | null; // null: the tag must not verify
  ct: Buffer;
  tag: Buffer;
}

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

/** Reads a CAVP .rsp file: section headers in brackets, records of "Name = value" lines, "FAIL" marks. */
function readRsp(file: string): Vector[] {
  const out: Vector[] = [];
  let header: Record<string, string> = {};
  let rec: Record<string, string> | null = null;
  let fail = false;
  const flush = (): void => {
    if (rec === null) return;
    const r = rec;
    const need = (k: string): string => {
      const v = r[k];
      if (v === undefined) throw new Error(`${file}: Count ${r['Count']} lacks ${k}`);
      return v;
    };
    out.push({
      name: `${file} [Keylen=${header['Keylen']} PTlen=${header['PTlen']} AADlen=${header['AADlen']}] Count ${need('Count')}`,
      key: hex(need('Key')),
      iv: hex(need('IV')),
      aad: hex(need('AAD')),
      ct: hex(need('CT')),
      tag: hex(need('Tag')),
      pt: fail ? null : hex(need('PT')),
    });
    rec = null;
    fail = false;
  };
  for (const raw of readFileSync(path.join(gcmDir, file), 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const h = /^\[(\w+) = (\d+)\]$/.exec(line);
    if (h) {
      flush();
      header[h[1]!] = h[2]!;
      continue;
    }
    if (line === 'FAIL') {
      fail = true;
      continue;
    }
    const kv = /^(\w+) = ?([0-9a-fA-F]*)$/.exec(line);
    if (!kv) throw new Error(`${file}: cannot read line ${JSON.stringify(line)}`);
    if (kv[1] === 'Count') {
      flush();
      rec = {};
      if (header['IVlen'] !== '96' || header['Taglen'] !== '128') throw new Error(`${file}: unexpected section`);
    }
    if (rec === null) throw new Error(`${file}: value outside a record`);
    rec[kv[1]!] = kv[2]!;
  }
  flush();
  header = {};
  return out;
}

/** Splits a 12-byte GCM IV into RFC 4106's salt (appended to the key) and the 8-byte ESP IV. */
function espForm(v: { key: Buffer; iv: Buffer }, implementation: GcmImplementation): { gcm: EspGcm; espIv: Buffer } {
  assert.equal(v.iv.length, 12);
  return { gcm: new EspGcm(Buffer.concat([v.key, v.iv.subarray(0, 4)]), { implementation }), espIv: v.iv.subarray(4) };
}

function checkVector(v: Vector, mustSeal: boolean, implementation: GcmImplementation): void {
  const { gcm, espIv } = espForm(v, implementation);
  if (v.pt !== null && mustSeal) {
    // Seal at an offset inside a larger buffer: the ESP SA writes after the ESP header.
    const out = Buffer.alloc(v.pt.length + GCM_ICV_LENGTH + 37, 0xee);
    const n = gcm.seal(espIv, v.aad, v.pt, out, 21);
    assert.equal(n, v.pt.length + GCM_ICV_LENGTH);
    assert.equal(out.subarray(21, 21 + v.ct.length).toString('hex'), v.ct.toString('hex'), 'ciphertext');
    assert.equal(out.subarray(21 + v.ct.length, 21 + n).toString('hex'), v.tag.toString('hex'), 'ICV');
    assert.equal(out[20], 0xee);
    assert.equal(out[21 + n], 0xee);
  }
  const plain = Buffer.alloc(v.ct.length + 5);
  const m = gcm.open(espIv, v.aad, v.ct, v.tag, plain, 3);
  if (v.pt === null) {
    assert.equal(m, -1, 'a FAIL vector must not verify');
  } else {
    assert.equal(m, v.pt.length);
    assert.equal(plain.subarray(3, 3 + m).toString('hex'), v.pt.toString('hex'), 'plaintext');
  }
}

// Every suite runs against both EspGcm implementations: the native addon's reused OpenSSL
// context and node:crypto.
for (const implementation of ['native', 'node'] as const) {
describe(`AES-GCM known answers (EspGcm ${implementation}, salt ‖ IV split)`, () => {
  for (const file of ['cavp-gcmEncryptExtIV128.rsp', 'cavp-gcmEncryptExtIV256.rsp']) {
    test(`NIST CAVP ${file}`, () => {
      const vs = readRsp(file);
      assert.ok(vs.length >= 10, `${file} holds ${vs.length} vectors`);
      for (const v of vs) checkVector(v, true, implementation);
    });
  }

  for (const file of ['cavp-gcmDecrypt128.rsp', 'cavp-gcmDecrypt256.rsp']) {
    test(`NIST CAVP ${file} (PASS opens to the plaintext, FAIL is rejected)`, () => {
      const vs = readRsp(file);
      const fails = vs.filter((v) => v.pt === null).length;
      assert.ok(fails >= 5 && vs.length - fails >= 5, `${file}: ${fails} FAIL of ${vs.length}`);
      for (const v of vs) checkVector(v, true, implementation);
    });
  }

  test('GCM specification test cases 1-4 and 13-16', () => {
    const doc = JSON.parse(readFileSync(path.join(gcmDir, 'mcgrew-viega-gcm-spec.json'), 'utf8')) as {
      cases: { name: string; key: string; iv: string; aad: string; pt: string; ct: string; tag: string }[];
    };
    assert.equal(doc.cases.length, 8);
    for (const c of doc.cases) {
      checkVector({ name: c.name, key: hex(c.key), iv: hex(c.iv), aad: hex(c.aad), pt: hex(c.pt), ct: hex(c.ct), tag: hex(c.tag) }, true, implementation);
    }
  });

  test('draft-mcgrew-gcm-test-01 ESP packets (AAD = SPI ‖ seq or SPI ‖ ESN)', () => {
    const doc = JSON.parse(readFileSync(path.join(gcmDir, 'draft-mcgrew-gcm-test-01.json'), 'utf8')) as {
      packets: { page: number; key: string; nonce: string; aad: string; pt: string; ct: string; tag: string }[];
    };
    assert.equal(doc.packets.length, 13);
    for (const p of doc.packets) {
      const aad = hex(p.aad);
      assert.ok(aad.length === 8 || aad.length === 12, `page ${p.page}: AAD is SPI ‖ 32-bit seq or SPI ‖ 64-bit ESN`);
      checkVector({ name: `page ${p.page}`, key: hex(p.key), iv: hex(p.nonce), aad, pt: hex(p.pt), ct: hex(p.ct), tag: hex(p.tag) }, true, implementation);
    }
  });

  test('Wycheproof aes_gcm_test.json, 96-bit IV groups (valid and invalid)', () => {
    const doc = JSON.parse(readFileSync(path.join(gcmDir, 'wycheproof-aes_gcm_test.json'), 'utf8')) as {
      testGroups: {
        ivSize: number;
        keySize: number;
        tagSize: number;
        tests: { tcId: number; comment: string; key: string; iv: string; aad: string; msg: string; ct: string; tag: string; result: string }[];
      }[];
    };
    let valid = 0;
    let invalid = 0;
    for (const g of doc.testGroups) {
      assert.equal(g.ivSize, 96);
      assert.equal(g.tagSize, 128);
      for (const t of g.tests) {
        const ok = t.result === 'valid';
        if (ok) valid++;
        else invalid++;
        const v: Vector = { name: `tcId ${t.tcId}`, key: hex(t.key), iv: hex(t.iv), aad: hex(t.aad), ct: hex(t.ct), tag: hex(t.tag), pt: ok ? hex(t.msg) : null };
        try {
          checkVector(v, true, implementation);
        } catch (e) {
          throw new Error(`Wycheproof tcId ${t.tcId} (${t.comment || 'no comment'}): ${(e as Error).message}`);
        }
      }
    }
    assert.equal(valid + invalid, 97);
    assert.ok(invalid >= 50);
  });
});

describe(`EspGcm ${implementation} rejects tampering and bad framing`, () => {
  const key = hex('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308cafebabe');
  const iv = hex('facedbaddecaf888');
  const aad = hex('0000a5f80000000a');
  const pt = Buffer.from('an inner IPv4 packet would be here, padded 1,2,3');

  test('a flipped bit anywhere in ciphertext, ICV, AAD or IV fails', () => {
    const gcm = new EspGcm(key, { implementation });
    const sealed = Buffer.alloc(pt.length + 16);
    gcm.seal(iv, aad, pt, sealed, 0);
    const out = Buffer.alloc(pt.length);
    assert.equal(gcm.open(iv, aad, sealed.subarray(0, pt.length), sealed.subarray(pt.length), out, 0), pt.length);
    for (let bit = 0; bit < sealed.length * 8; bit += 7) {
      const bad = Buffer.from(sealed);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      assert.equal(gcm.open(iv, aad, bad.subarray(0, pt.length), bad.subarray(pt.length), out, 0), -1, `bit ${bit}`);
    }
    const badAad = Buffer.from(aad);
    badAad[7]! ^= 1;
    assert.equal(gcm.open(iv, badAad, sealed.subarray(0, pt.length), sealed.subarray(pt.length), out, 0), -1);
    const badIv = Buffer.from(iv);
    badIv[0]! ^= 0x80;
    assert.equal(gcm.open(badIv, aad, sealed.subarray(0, pt.length), sealed.subarray(pt.length), out, 0), -1);
  });

  test('an ICV that is not 16 bytes is rejected, not truncated-compared', () => {
    const gcm = new EspGcm(key, { implementation });
    const sealed = Buffer.alloc(pt.length + 16);
    gcm.seal(iv, aad, pt, sealed, 0);
    const out = Buffer.alloc(pt.length);
    assert.equal(gcm.open(iv, aad, sealed.subarray(0, pt.length), sealed.subarray(pt.length, pt.length + 12), out, 0), -1);
    assert.equal(gcm.open(iv, aad, sealed.subarray(0, pt.length), Buffer.alloc(0), out, 0), -1);
  });

  test('a wrong-length IV or a short output buffer is refused, never silently used', () => {
    const gcm = new EspGcm(key, { implementation });
    const out = Buffer.alloc(pt.length + 16);
    assert.throws(() => gcm.seal(iv.subarray(0, 7), aad, pt, out, 0), RangeError);
    assert.throws(() => gcm.seal(Buffer.alloc(12), aad, pt, out, 0), RangeError);
    assert.throws(() => gcm.seal(iv, aad, pt, out, 1), RangeError);
    assert.throws(() => gcm.seal(iv, aad, pt, Buffer.alloc(pt.length + 15), 0), RangeError);
    assert.equal(gcm.seal(iv, aad, pt, out, 0), pt.length + 16);
    const plain = Buffer.alloc(pt.length);
    assert.equal(gcm.open(iv.subarray(0, 7), aad, out.subarray(0, pt.length), out.subarray(pt.length), plain, 0), -1);
    assert.throws(() => gcm.open(iv, aad, out.subarray(0, pt.length), out.subarray(pt.length), plain, 1), RangeError);
    assert.equal(gcm.open(iv, aad, out.subarray(0, pt.length), out.subarray(pt.length), plain, 0), pt.length);
    assert.ok(plain.equals(pt));
  });

  test('key material must be 20 or 36 bytes', () => {
    assert.throws(() => new EspGcm(Buffer.alloc(16), { implementation }), RangeError);
    assert.throws(() => new EspGcm(Buffer.alloc(32), { implementation }), RangeError);
    assert.throws(() => new EspGcm(Buffer.alloc(28), { implementation }), RangeError);
    assert.equal(new EspGcm(Buffer.alloc(20), { implementation }).keyBits, 128);
    assert.equal(new EspGcm(Buffer.alloc(36), { implementation }).keyBits, 256);
  });
});
}
