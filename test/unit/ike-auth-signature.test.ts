import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  AUTH_DIGITAL_SIGNATURE, AUTH_ECDSA_256, AUTH_RSA_SIG, HASH_SHA1, HASH_SHA2_256, HASH_SHA2_384, HASH_SHA2_512,
  encodeSigAlg, parseSigAlg, signAuth, splitDigitalSignature, verifyAuthSignature, type SigAlg,
} from '../../src/ike/auth/index.js';
import { TestPki, type CertFiles } from '../helpers/certs.js';
import { sh } from '../helpers/netns.js';
import { fixturesDir } from '../helpers/paths.js';

interface Vector { name: string; oid: string; kind: 'rsa-pkcs1' | 'ecdsa'; hash: 'sha1' | 'sha256' | 'sha384' | 'sha512'; der: string }
const rfc7427 = JSON.parse(readFileSync(path.join(fixturesDir, 'auth', 'rfc7427-algorithm-identifiers.json'), 'utf8')) as { vectors: Vector[] };

/** DER ECDSA-Sig-Value ↔ r‖s, written here in the test so the cross-check does not use our code. */
function derToRs(der: Buffer, half: number): Buffer {
  let p = 2;
  if (der[1]! & 0x80) p += der[1]! & 0x7f;
  const ints: Buffer[] = [];
  for (let i = 0; i < 2; i++) {
    const len = der[p + 1]!;
    let v = der.subarray(p + 2, p + 2 + len);
    while (v.length > half && v[0] === 0) v = v.subarray(1);
    ints.push(Buffer.concat([Buffer.alloc(half - v.length), v]));
    p += 2 + len;
  }
  return Buffer.concat(ints);
}
function rsToDer(rs: Buffer): Buffer {
  const int = (b: Buffer): Buffer => {
    let v = b;
    while (v.length > 1 && v[0] === 0 && !(v[1]! & 0x80)) v = v.subarray(1);
    if (v[0]! & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
    return Buffer.concat([Buffer.from([0x02, v.length]), v]);
  };
  const body = Buffer.concat([int(rs.subarray(0, rs.length / 2)), int(rs.subarray(rs.length / 2))]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

/** DER built by OpenSSL's ASN.1 generator from a -genconf description (an independent encoder). */
function genconf(lines: string[]): Buffer {
  const dir = mkdtempSync(path.join(tmpdir(), 'oit-genconf-'));
  try {
    writeFileSync(path.join(dir, 'g.cnf'), lines.join('\n') + '\n');
    sh(['openssl', 'asn1parse', '-genconf', path.join(dir, 'g.cnf'), '-noout', '-out', path.join(dir, 'g.der')]);
    return readFileSync(path.join(dir, 'g.der'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('ike/auth signatures', () => {
  let pki: TestPki;
  let ca: CertFiles;
  let rsa: CertFiles;
  let ec: CertFiles;
  let rsaKey: KeyObject;
  let ecKey: KeyObject;
  let rsaPub: KeyObject;
  let ecPub: KeyObject;
  let n = 0;
  const octets = randomBytes(300);
  let dataFile: string;

  /** Runs openssl dgst on the signed octets; returns whether it printed "Verified OK". */
  function opensslVerify(pub: CertFiles, hash: string, sig: Buffer, extra: string[] = []): boolean {
    const sigFile = path.join(pki.dir, `sig${n++}.bin`);
    const pubFile = path.join(pki.dir, `${pub.name}.pub.pem`);
    writeFileSync(pubFile, createPublicKey(pub.keyPem).export({ type: 'spki', format: 'pem' }));
    writeFileSync(sigFile, sig);
    const r = sh(['openssl', 'dgst', `-${hash}`, ...extra, '-verify', pubFile, '-signature', sigFile, dataFile], { check: false });
    return r.code === 0 && r.stdout.includes('Verified OK');
  }
  function opensslSign(key: CertFiles, hash: string, extra: string[] = []): Buffer {
    const sigFile = path.join(pki.dir, `sig${n++}.bin`);
    sh(['openssl', 'dgst', `-${hash}`, ...extra, '-sign', key.keyPath, '-out', sigFile, dataFile]);
    return readFileSync(sigFile);
  }

  before(() => {
    pki = new TestPki('oit-auth-sig');
    ca = pki.createCa('ca', { dn: 'C=XX, O=Lab, CN=Sig CA', keyType: 'ecdsa' });
    rsa = pki.issue(ca, 'rsa', { dn: 'C=XX, O=Lab, CN=rsa.lab', keyType: 'rsa', sans: ['rsa.lab'] });
    ec = pki.issue(ca, 'ec', { dn: 'C=XX, O=Lab, CN=ec.lab', keyType: 'ecdsa', sans: ['ec.lab'] });
    rsaKey = createPrivateKey(rsa.keyPem);
    ecKey = createPrivateKey(ec.keyPem);
    rsaPub = createPublicKey(rsa.keyPem);
    ecPub = createPublicKey(ec.keyPem);
    dataFile = path.join(pki.dir, 'signed-octets.bin');
    writeFileSync(dataFile, octets);
  });
  after(() => pki.cleanup());

  describe('RFC 7427 AlgorithmIdentifiers (Appendix A fixture)', () => {
    for (const v of rfc7427.vectors) {
      it(`${v.name}: our encoding equals the RFC bytes, parses back, and openssl -genconf agrees`, () => {
        const alg = { kind: v.kind, hash: v.hash } as SigAlg;
        assert.equal(encodeSigAlg(alg).toString('hex'), v.der);
        assert.deepEqual(parseSigAlg(Buffer.from(v.der, 'hex')), alg);
        const lines = ['asn1=SEQUENCE:a', '[a]', `oid=OID:${v.oid}`];
        if (v.kind === 'rsa-pkcs1') lines.push('p=NULL');
        assert.equal(genconf(lines).toString('hex'), v.der);
      });
    }
    it('RSASSA-PSS SHA-256 parameters encode as openssl -genconf builds RFC 4055 RSASSA-PSS-params', () => {
      const expected = genconf([
        'asn1=SEQUENCE:alg', '[alg]', 'oid=OID:RSASSA-PSS', 'params=SEQUENCE:pss', '[pss]',
        'hash=EXPLICIT:0C,SEQUENCE:sha256', 'mgf=EXPLICIT:1C,SEQUENCE:mgf1', 'salt=EXPLICIT:2C,INTEGER:32',
        '[sha256]', 'oid=OID:sha256', 'p=NULL', '[mgf1]', 'oid=OID:mgf1', 'hash=SEQUENCE:sha256',
      ]);
      const pss: SigAlg = { kind: 'rsa-pss', hash: 'sha256', mgfHash: 'sha256', saltLength: 32 };
      assert.equal(encodeSigAlg(pss).toString('hex'), expected.toString('hex'));
      assert.deepEqual(parseSigAlg(expected), pss);
    });
    it('RSASSA-PSS with absent parameters takes the RFC 4055 defaults', () => {
      const empty = genconf(['asn1=SEQUENCE:alg', '[alg]', 'oid=OID:RSASSA-PSS', 'params=SEQUENCE:none', '[none]']);
      assert.deepEqual(parseSigAlg(empty), { kind: 'rsa-pss', hash: 'sha1', mgfHash: 'sha1', saltLength: 20 });
    });
    it('refuses unknown OIDs and junk without throwing out of verify', () => {
      assert.throws(() => parseSigAlg(Buffer.from('300b06092a864886f70d010101', 'hex')));
      const r = verifyAuthSignature(ecPub, AUTH_DIGITAL_SIGNATURE, Buffer.from('05300a0608', 'hex'), octets);
      assert.equal(r.ok, false);
      assert.equal(verifyAuthSignature(ecPub, AUTH_DIGITAL_SIGNATURE, Buffer.alloc(0), octets).ok, false);
      assert.equal(verifyAuthSignature(ecPub, AUTH_DIGITAL_SIGNATURE, randomBytes(80), octets).ok, false);
    });
  });

  describe('method choice', () => {
    it('classic without SIGNATURE_HASH_ALGORITHMS: RSA → 1, ECDSA P-256 → 9 (64-byte r‖s)', () => {
      assert.equal(signAuth(rsaKey, octets, []).method, AUTH_RSA_SIG);
      const e = signAuth(ecKey, octets, []);
      assert.equal(e.method, AUTH_ECDSA_256);
      assert.equal(e.data.length, 64);
    });
    it('method 14 when the peer offered SHA2 hashes, picking SHA-256 for P-256 and RSA', () => {
      for (const [key, kind] of [[rsaKey, 'rsa-pkcs1'], [ecKey, 'ecdsa']] as const) {
        const s = signAuth(key, octets, [HASH_SHA1, HASH_SHA2_256, HASH_SHA2_384, HASH_SHA2_512]);
        assert.equal(s.method, AUTH_DIGITAL_SIGNATURE);
        assert.deepEqual(splitDigitalSignature(s.data).alg, { kind, hash: 'sha256' });
      }
      const only512 = signAuth(ecKey, octets, [HASH_SHA2_512]);
      assert.deepEqual(splitDigitalSignature(only512.data).alg, { kind: 'ecdsa', hash: 'sha512' });
    });
    it('only SHA-1 offered: classic auth (we never sign method 14 with SHA-1)', () => {
      assert.equal(signAuth(rsaKey, octets, [HASH_SHA1]).method, AUTH_RSA_SIG);
    });
  });

  describe('round trips', () => {
    const cases: Array<[string, () => KeyObject, () => KeyObject, number[], 'pkcs1' | 'pss']> = [
      ['RSA method 1', () => rsaKey, () => rsaPub, [], 'pkcs1'],
      ['ECDSA method 9', () => ecKey, () => ecPub, [], 'pkcs1'],
      ['RSA method 14 SHA-256', () => rsaKey, () => rsaPub, [HASH_SHA2_256], 'pkcs1'],
      ['RSA method 14 SHA-384', () => rsaKey, () => rsaPub, [HASH_SHA2_384], 'pkcs1'],
      ['RSA method 14 SHA-512', () => rsaKey, () => rsaPub, [HASH_SHA2_512], 'pkcs1'],
      ['RSA method 14 PSS SHA-256', () => rsaKey, () => rsaPub, [HASH_SHA2_256], 'pss'],
      ['RSA method 14 PSS SHA-512', () => rsaKey, () => rsaPub, [HASH_SHA2_512], 'pss'],
      ['ECDSA method 14 SHA-256', () => ecKey, () => ecPub, [HASH_SHA2_256], 'pkcs1'],
      ['ECDSA method 14 SHA-384', () => ecKey, () => ecPub, [HASH_SHA2_384], 'pkcs1'],
    ];
    for (const [name, priv, pub, hashes, padding] of cases) {
      it(`${name}: verifies, and fails for other octets or a flipped bit`, () => {
        const s = signAuth(priv(), octets, hashes, padding);
        assert.deepEqual(verifyAuthSignature(pub(), s.method, s.data, octets), { ok: true });
        const other = Buffer.from(octets);
        other[7]! ^= 1;
        assert.equal(verifyAuthSignature(pub(), s.method, s.data, other).ok, false);
        const flipped = Buffer.from(s.data);
        flipped[flipped.length - 3]! ^= 0x10;
        assert.equal(verifyAuthSignature(pub(), s.method, flipped, octets).ok, false);
      });
    }
    it('a signature with the wrong key type is refused with a reason', () => {
      const s = signAuth(ecKey, octets, []);
      const r = verifyAuthSignature(rsaPub, s.method, s.data, octets);
      assert.equal(r.ok, false);
      assert.match((r as { reason: string }).reason, /does not fit the peer's RSA key/);
    });
  });

  describe('cross-checks with openssl dgst', () => {
    it('our method 1 (RSA SHA-1) verifies with openssl; openssl\'s verifies with ours', () => {
      const s = signAuth(rsaKey, octets, []);
      assert.ok(opensslVerify(rsa, 'sha1', s.data));
      const theirs = opensslSign(rsa, 'sha1');
      assert.deepEqual(verifyAuthSignature(rsaPub, AUTH_RSA_SIG, theirs, octets), { ok: true });
    });
    it('our method 9 (ECDSA P-256 r‖s) verifies with openssl; openssl\'s verifies with ours', () => {
      const s = signAuth(ecKey, octets, []);
      assert.ok(opensslVerify(ec, 'sha256', rsToDer(s.data)));
      const theirs = derToRs(opensslSign(ec, 'sha256'), 32);
      assert.deepEqual(verifyAuthSignature(ecPub, AUTH_ECDSA_256, theirs, octets), { ok: true });
    });
    for (const [hash, id] of [['sha256', HASH_SHA2_256], ['sha384', HASH_SHA2_384], ['sha512', HASH_SHA2_512]] as const) {
      it(`method 14 RSA PKCS#1 ${hash} and ECDSA ${hash} both ways (AlgorithmIdentifier from the RFC fixture)`, () => {
        for (const [files, key, pub, kind] of [[rsa, rsaKey, rsaPub, 'rsa-pkcs1'], [ec, ecKey, ecPub, 'ecdsa']] as const) {
          const ours = signAuth(key, octets, [id]);
          const { signature } = splitDigitalSignature(ours.data);
          assert.ok(opensslVerify(files, hash, signature), `openssl verifies our ${kind} ${hash}`);
          const algHex = rfc7427.vectors.find((v) => v.kind === kind && v.hash === hash)!.der;
          const alg = Buffer.from(algHex, 'hex');
          const data = Buffer.concat([Buffer.from([alg.length]), alg, opensslSign(files, hash)]);
          assert.deepEqual(verifyAuthSignature(pub, AUTH_DIGITAL_SIGNATURE, data, octets), { ok: true });
        }
      });
    }
    it('method 14 RSASSA-PSS SHA-256 (salt 32) both ways', () => {
      const pssOpts = ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32', '-sigopt', 'rsa_mgf1_md:sha256'];
      const ours = signAuth(rsaKey, octets, [HASH_SHA2_256], 'pss');
      assert.ok(opensslVerify(rsa, 'sha256', splitDigitalSignature(ours.data).signature, pssOpts));
      const alg = genconf([
        'asn1=SEQUENCE:alg', '[alg]', 'oid=OID:RSASSA-PSS', 'params=SEQUENCE:pss', '[pss]',
        'hash=EXPLICIT:0C,SEQUENCE:sha256', 'mgf=EXPLICIT:1C,SEQUENCE:mgf1', 'salt=EXPLICIT:2C,INTEGER:32',
        '[sha256]', 'oid=OID:sha256', 'p=NULL', '[mgf1]', 'oid=OID:mgf1', 'hash=SEQUENCE:sha256',
      ]);
      const data = Buffer.concat([Buffer.from([alg.length]), alg, opensslSign(rsa, 'sha256', pssOpts)]);
      assert.deepEqual(verifyAuthSignature(rsaPub, AUTH_DIGITAL_SIGNATURE, data, octets), { ok: true });
    });
  });
});
