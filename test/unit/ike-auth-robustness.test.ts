import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import {
  createAuthProvider, decodeIdBody, idEquals, idToString, parseSigAlg, pemToDerList, splitDigitalSignature,
  validateChain, parseCertificatePem, type IkeAuthProvider,
} from '../../src/ike/auth/index.js';
import { TestPki, type CertFiles } from '../helpers/certs.js';

/** Peer input is hostile: whatever arrives, the auth code answers with a verdict, never a throw. */
const prf = (k: Buffer, m: Buffer): Buffer => createHmac('sha256', k).update(m).digest();
const bytes = (max: number): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength: max }).map((u) => Buffer.from(u));

describe('ike/auth with malformed peer input', () => {
  let pki: TestPki;
  let ca: CertFiles;
  let node: CertFiles;
  let provider: IkeAuthProvider;
  let certDer: Buffer;

  before(() => {
    pki = new TestPki('oit-auth-fuzz');
    ca = pki.createCa('ca', { dn: 'C=XX, O=Lab, CN=Fuzz CA' });
    node = pki.issue(ca, 'n', { dn: 'C=XX, O=Lab, CN=n.lab', sans: ['n.lab'] });
    certDer = pemToDerList(node.certPem)[0]!;
    provider = createAuthProvider({
      pk: { local: { auth: 'pubkey', certPem: node.certPem, keyPem: node.keyPem }, remote: { auth: 'pubkey', id: 'n.lab' }, caPems: [ca.certPem] },
      any: { local: { auth: 'pubkey', certPem: node.certPem, keyPem: node.keyPem }, remote: { auth: 'pubkey' }, caPems: [ca.certPem] },
      psk: { local: { auth: 'psk', id: 'a' }, remote: { auth: 'psk', id: 'b' }, psk: Buffer.from('secret') },
    }, () => new Date());
  });
  after(() => pki.cleanup());

  it('verify() returns a refusal for random methods, AUTH data, certificates and ids', () => {
    fc.assert(fc.property(
      fc.constantFrom('pk', 'any', 'psk', 'nope'), fc.integer({ min: 0, max: 255 }), bytes(300), fc.array(bytes(400), { maxLength: 3 }),
      fc.integer({ min: 0, max: 255 }), bytes(40), bytes(200),
      (conn, method, data, certs, idType, idData, octets) => {
        const r = provider.verify(conn, method, data, octets, certs, { type: idType, data: idData }, prf, Buffer.alloc(32));
        assert.equal(r.ok, false);
        assert.equal(typeof (r as { reason: string }).reason, 'string');
      },
    ), { numRuns: 400 });
  });

  it('a valid certificate with mangled bytes or random AUTH data is refused, not thrown', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: certDer.length - 1 }), fc.integer({ min: 1, max: 255 }), bytes(120), fc.constantFrom(1, 9, 14),
      (pos, xor, data, method) => {
        const mangled = Buffer.from(certDer);
        mangled[pos]! ^= xor;
        for (const certs of [[mangled], [certDer]]) {
          const r = provider.verify('pk', method, data, Buffer.from('octets'), certs, { type: 2, data: Buffer.from('n.lab') }, prf, Buffer.alloc(0));
          assert.equal(r.ok, false);
        }
      },
    ), { numRuns: 150 });
  });

  it('decoders never throw unexpectedly: ID bodies, id text, AlgorithmIdentifiers, chains', () => {
    const anchors = parseCertificatePem(ca.certPem, 'ca');
    fc.assert(fc.property(bytes(100), fc.integer({ min: 0, max: 255 }), (b, t) => {
      const id = decodeIdBody(b);
      if (b.length < 4) assert.equal(id, null);
      else assert.equal(id!.type, b[0]);
      assert.equal(typeof idToString({ type: t, data: b }), 'string');
      assert.equal(typeof idEquals({ type: 9, data: b }, { type: 9, data: b }), 'boolean');
      try {
        parseSigAlg(b);
      } catch (e) {
        assert.ok(e instanceof Error && e.name === 'DerError', `parseSigAlg threw ${String(e)}`);
      }
      try {
        splitDigitalSignature(b);
      } catch (e) {
        assert.ok(e instanceof Error && e.name === 'DerError', `splitDigitalSignature threw ${String(e)}`);
      }
      assert.equal(validateChain([b], anchors, new Date()).ok, false);
    }), { numRuns: 1000 });
  });
});
