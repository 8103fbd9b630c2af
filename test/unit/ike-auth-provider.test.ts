import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  AUTH_DIGITAL_SIGNATURE, AUTH_ECDSA_256, AUTH_RSA_SIG, AUTH_SHARED_KEY_MIC, AuthConfigError, HASH_SHA2_256,
  HASH_SHA2_384, HASH_SHA2_512, ID_DER_ASN1_DN, ID_FQDN, createAuthProvider, idToString, parseIdString,
  parseSignatureHashNotify, pemToDerList, pskAuth, signatureHashNotifyData, type AuthConnConfig, type IkeAuthProvider,
} from '../../src/ike/auth/index.js';
import { TestPki, type CertFiles } from '../helpers/certs.js';
import { sh } from '../helpers/netns.js';

const prf = (key: Buffer, data: Buffer): Buffer => createHmac('sha256', key).update(data).digest();
const skP = randomBytes(32);
const ALL_HASHES = [HASH_SHA2_256, HASH_SHA2_384, HASH_SHA2_512];

describe('ike/auth provider', () => {
  let pki: TestPki;
  let ca: CertFiles;
  let otherCa: CertFiles;
  let a: CertFiles; // ECDSA, pki
  let b: CertFiles; // RSA, openssl
  let rogue: CertFiles; // names b.lab, from another CA
  let expiredB: CertFiles;
  let clock = new Date();
  const now = (): Date => clock;

  function pair(bCert: CertFiles = b, remoteIdOfB = 'b.lab'): { A: IkeAuthProvider; B: IkeAuthProvider } {
    const A = createAuthProvider({
      ab: { local: { auth: 'pubkey', certPem: a.certPem, keyPem: a.keyPem, id: 'a.lab' }, remote: { auth: 'pubkey', id: remoteIdOfB }, caPems: [ca.certPem] },
    }, now);
    const B = createAuthProvider({
      ab: { local: { auth: 'pubkey', certPem: bCert.certPem, keyPem: bCert.keyPem, id: 'b.lab' }, remote: { auth: 'pubkey', id: 'a.lab' }, caPems: [ca.certPem] },
    }, now);
    return { A, B };
  }

  before(() => {
    pki = new TestPki('oit-auth-prov');
    ca = pki.createCa('ca', { dn: 'C=XX, O=Lab, CN=Lab Root CA', tool: 'pki' });
    otherCa = pki.createCa('other', { dn: 'C=XX, O=Elsewhere, CN=Other CA', tool: 'openssl' });
    a = pki.issue(ca, 'a', { dn: 'C=XX, O=Lab, CN=a.lab', keyType: 'ecdsa', tool: 'pki', sans: ['a.lab'] });
    b = pki.issue(ca, 'b', { dn: 'C=XX, O=Lab, CN=b.lab', keyType: 'rsa', tool: 'openssl', sans: ['b.lab'] });
    rogue = pki.issue(otherCa, 'rogue', { dn: 'C=XX, O=Lab, CN=b.lab', keyType: 'rsa', tool: 'openssl', sans: ['b.lab'] });
    expiredB = pki.issue(ca, 'expiredb', {
      dn: 'C=XX, O=Lab, CN=b.lab', keyType: 'ecdsa', tool: 'openssl', sans: ['b.lab'],
      notBefore: new Date(Date.now() - 100 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000),
    });
  });
  after(() => pki.cleanup());

  it('ECDSA ↔ RSA with RFC 7427 (peer sent hashes) and classic (it did not), both directions', () => {
    const { A, B } = pair();
    for (const [hashes, aMethod, bMethod] of [[ALL_HASHES, AUTH_DIGITAL_SIGNATURE, AUTH_DIGITAL_SIGNATURE], [[], AUTH_ECDSA_256, AUTH_RSA_SIG]] as const) {
      const octets = randomBytes(200);
      const sa = A.sign('ab', octets, [...hashes], prf, skP);
      assert.equal(sa.method, aMethod);
      assert.equal(sa.certs.length, 1);
      assert.deepEqual(B.verify('ab', sa.method, sa.data, octets, sa.certs, A.localId('ab'), prf, skP), { ok: true });
      const sb = B.sign('ab', octets, [...hashes], prf, skP);
      assert.equal(sb.method, bMethod);
      assert.deepEqual(A.verify('ab', sb.method, sb.data, octets, sb.certs, B.localId('ab'), prf, skP), { ok: true });
    }
  });

  it('local id: configured FQDN, or the certificate subject DN when none is set', () => {
    const { A } = pair();
    assert.equal(A.localId('ab').type, ID_FQDN);
    assert.equal(A.localId('ab').data.toString(), 'a.lab');
    const P = createAuthProvider({ c: { local: { auth: 'pubkey', certPem: a.certPem, keyPem: a.keyPem }, remote: { auth: 'pubkey' }, caPems: [ca.certPem] } }, now);
    const id = P.localId('c');
    assert.equal(id.type, ID_DER_ASN1_DN);
    assert.equal(idToString(id), 'C=XX, O=Lab, CN=a.lab');
    assert.equal(P.describeId(id), 'C=XX, O=Lab, CN=a.lab');
    // the subject bytes exactly as in the certificate (what strongSwan compares against)
    assert.ok(pemToDerList(a.certPem)[0]!.includes(id.data));
  });

  it('DN ids: the peer is accepted when configured by DN and identifying by DN', () => {
    const A = createAuthProvider({ c: { local: { auth: 'pubkey', certPem: a.certPem, keyPem: a.keyPem, id: 'C=XX, O=Lab, CN=a.lab' }, remote: { auth: 'pubkey', id: 'C=XX, O=Lab, CN=b.lab' }, caPems: [ca.certPem] } }, now);
    const B = createAuthProvider({ c: { local: { auth: 'pubkey', certPem: b.certPem, keyPem: b.keyPem, id: 'C=XX, O=Lab, CN=b.lab' }, remote: { auth: 'pubkey', id: 'C=XX, O=Lab, CN=a.lab' }, caPems: [ca.certPem] } }, now);
    const octets = randomBytes(64);
    const s = B.sign('c', octets, ALL_HASHES, prf, skP);
    assert.deepEqual(A.verify('c', s.method, s.data, octets, s.certs, B.localId('c'), prf, skP), { ok: true });
    const s2 = A.sign('c', octets, [], prf, skP);
    assert.deepEqual(B.verify('c', s2.method, s2.data, octets, s2.certs, A.localId('c'), prf, skP), { ok: true });
  });

  it('refusals: wrong id, another CA, expired, id not in the certificate, bad signature, PSK instead', () => {
    const octets = randomBytes(100);
    const { A, B } = pair();
    const sb = B.sign('ab', octets, ALL_HASHES, prf, skP);
    const verify = (m: number, d: Buffer, certs: Buffer[], id = B.localId('ab'), o = octets): string => {
      const r = A.verify('ab', m, d, o, certs, id, prf, skP);
      assert.equal(r.ok, false);
      return (r as { reason: string }).reason;
    };
    assert.equal(verify(sb.method, sb.data, sb.certs, parseIdString('c.lab')!), 'id mismatch: expected b.lab got c.lab');
    const R = createAuthProvider({ r: { local: { auth: 'pubkey', certPem: rogue.certPem, keyPem: rogue.keyPem, id: 'b.lab' }, remote: { auth: 'pubkey' }, caPems: [otherCa.certPem] } }, now);
    const sr = R.sign('r', octets, ALL_HASHES, prf, skP);
    assert.match(verify(sr.method, sr.data, sr.certs), /not issued by a trusted CA/);
    const E = createAuthProvider({ e: { local: { auth: 'pubkey', certPem: expiredB.certPem, keyPem: expiredB.keyPem, id: 'b.lab' }, remote: { auth: 'pubkey' }, caPems: [ca.certPem] } }, now);
    const se = E.sign('e', octets, ALL_HASHES, prf, skP);
    assert.match(verify(se.method, se.data, se.certs), /expired on/);
    // A configured with remote %any: B claims to be a.lab while its certificate names b.lab.
    const Any = createAuthProvider({ x: { local: { auth: 'pubkey', certPem: a.certPem, keyPem: a.keyPem }, remote: { auth: 'pubkey', id: '%any' }, caPems: [ca.certPem] } }, now);
    const r = Any.verify('x', sb.method, sb.data, octets, sb.certs, parseIdString('a.lab')!, prf, skP);
    assert.match((r as { reason: string }).reason, /id mismatch: certificate "C=XX, O=Lab, CN=b.lab" does not name the peer id a.lab/);
    assert.match(verify(sb.method, sb.data, sb.certs, B.localId('ab'), randomBytes(100)), /does not verify/);
    assert.match(verify(AUTH_SHARED_KEY_MIC, randomBytes(32), sb.certs), /expected a certificate signature/);
    assert.match(verify(sb.method, sb.data, []), /no certificate/);
  });

  it('the injected clock decides expiry', () => {
    const { A, B } = pair();
    const octets = randomBytes(50);
    const s = B.sign('ab', octets, [], prf, skP);
    clock = new Date(Date.now() + 3 * 365 * 86_400_000);
    try {
      const r = A.verify('ab', s.method, s.data, octets, s.certs, B.localId('ab'), prf, skP);
      assert.match((r as { reason: string }).reason, /expired on/);
    } finally {
      clock = new Date();
    }
  });

  describe('PSK', () => {
    const secret = Buffer.from('libreswan-interop-secret-0123456789');
    const conf = (localId: string, remoteId: string, psk = secret): Record<string, AuthConnConfig> => ({
      p: { local: { auth: 'psk', id: localId }, remote: { auth: 'psk', id: remoteId }, psk },
    });
    it('method 2 with prf(prf(secret, "Key Pad for IKEv2"), octets), checked with openssl mac', () => {
      const A = createAuthProvider(conf('ls-nodeA', 'ls-nodeB'), now);
      const B = createAuthProvider(conf('ls-nodeB', 'ls-nodeA'), now);
      const octets = randomBytes(120);
      const s = A.sign('p', octets, ALL_HASHES, prf, skP);
      assert.equal(s.method, AUTH_SHARED_KEY_MIC);
      assert.deepEqual(s.certs, []);
      assert.deepEqual(B.verify('p', s.method, s.data, octets, [], A.localId('p'), prf, skP), { ok: true });
      // Independent: two HMAC-SHA256 computations by openssl.
      const dir = pki.dir;
      writeFileSync(path.join(dir, 'pad.bin'), 'Key Pad for IKEv2');
      writeFileSync(path.join(dir, 'octets.bin'), octets);
      const mac = (keyHex: string, file: string): string => sh(['openssl', 'mac', '-digest', 'SHA256', '-macopt', `hexkey:${keyHex}`, '-in', path.join(dir, file), 'HMAC']).stdout.trim().toLowerCase();
      const inner = mac(secret.toString('hex'), 'pad.bin');
      assert.equal(s.data.toString('hex'), mac(inner, 'octets.bin'));
      assert.deepEqual(pskAuth(prf, secret, octets), s.data);
    });
    it('a different secret, a signature method, or a wrong id is refused', () => {
      const A = createAuthProvider(conf('ls-nodeA', 'ls-nodeB'), now);
      const B = createAuthProvider(conf('ls-nodeB', 'ls-nodeA', Buffer.from('another secret')), now);
      const octets = randomBytes(120);
      const s = A.sign('p', octets, [], prf, skP);
      assert.match((B.verify('p', s.method, s.data, octets, [], A.localId('p'), prf, skP) as { reason: string }).reason, /does not match/);
      assert.match((B.verify('p', AUTH_RSA_SIG, s.data, octets, [], A.localId('p'), prf, skP) as { reason: string }).reason, /expected pre-shared key/);
      assert.match((B.verify('p', s.method, s.data, octets, [], parseIdString('x')!, prf, skP) as { reason: string }).reason, /id mismatch: expected ls-nodeA got x/);
      assert.equal(A.certReq('p').length, 0);
    });
  });

  it('SIGNATURE_HASH_ALGORITHMS notify data: 0002 0003 0004', () => {
    assert.equal(signatureHashNotifyData().toString('hex'), '000200030004');
    assert.deepEqual(parseSignatureHashNotify(Buffer.from('0001000200050004ff', 'hex')), [1, 2, 5, 4]);
  });

  it('bad settings are refused when the provider is made, naming the key', () => {
    const bad = (c: AuthConnConfig, re: RegExp): void => {
      assert.throws(() => createAuthProvider({ k: c }, now), (e: unknown) => e instanceof AuthConfigError && re.test(e.message));
    };
    bad({ local: { auth: 'pubkey', certPem: a.certPem }, remote: { auth: 'pubkey' }, caPems: [ca.certPem] }, /local\.keyPem: pubkey authentication needs our private key/);
    bad({ local: { auth: 'pubkey', certPem: a.certPem, keyPem: b.keyPem }, remote: { auth: 'pubkey' }, caPems: [ca.certPem] }, /does not belong to certificate/);
    bad({ local: { auth: 'pubkey', certPem: a.certPem, keyPem: a.keyPem, id: 'b.lab' }, remote: { auth: 'pubkey' }, caPems: [ca.certPem] }, /local\.id: certificate "C=XX, O=Lab, CN=a.lab" does not name "b.lab"/);
    bad({ local: { auth: 'pubkey', certPem: a.certPem, keyPem: a.keyPem }, remote: { auth: 'pubkey' } }, /caPems: .*at least one trusted CA/);
    bad({ local: { auth: 'psk', id: 'x' }, remote: { auth: 'psk' } }, /psk: PSK authentication needs a shared secret/);
    bad({ local: { auth: 'psk' }, remote: { auth: 'psk' }, psk: Buffer.from('s') }, /local\.id/);
    bad({ local: { auth: 'pubkey', certPem: 'not pem', keyPem: a.keyPem }, remote: { auth: 'pubkey' }, caPems: [ca.certPem] }, /local\.certPem/);
  });
});
