import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate as NodeX509 } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { readTbsFields } from '../../src/ike/auth/cert-fields.js';
import { CertParseError, parseCertificate, pemToDerList } from '../../src/ike/auth/index.js';
import { TestPki, type CertFiles } from '../helpers/certs.js';
import { addressBytes } from '../../src/wire/address.js';

/**
 * Our DER reader for the certificate fields IKE uses (cert-fields.ts) against an independent,
 * general ASN.1 decoder (@peculiar/x509, which the responder used before) and node:crypto, on
 * certificates made by OpenSSL and by strongSwan's pki.
 */
describe('ike/auth certificate fields (own DER reader)', () => {
  let pki: TestPki;
  const certs: CertFiles[] = [];
  const DAY = 86_400_000;

  before(() => {
    pki = new TestPki('oit-cert-fields');
    const osCa = pki.createCa('osca', { dn: 'C=XX, O=Lab, CN=OpenSSL Root', keyType: 'rsa', pathLen: 2 });
    const swCa = pki.createCa('swca', { dn: 'C=XX, O=Lab, CN=pki Root', keyType: 'ecdsa', tool: 'pki' });
    certs.push(osCa, swCa);
    certs.push(pki.issue(osCa, 'inter', { dn: 'C=XX, O=Lab, CN=Intermediate', keyType: 'rsa', ca: true, pathLen: 0 }));
    certs.push(pki.issue(osCa, 'many', {
      dn: 'C=XX, O=Lab, OU=Nodes, CN=many.lab', keyType: 'rsa',
      sans: ['many.lab', 'alt.many.lab', '192.0.2.7', '2001:db8::1:2', 'ops@many.lab'],
    }));
    certs.push(pki.issue(swCa, 'swnode', { dn: 'C=XX, O=Lab, CN=sw.lab', tool: 'pki', sans: ['sw.lab', '198.51.100.9', 'me@sw.lab'] }));
    // GeneralizedTime: validity beyond 2049 (RFC 5280 §4.1.2.5).
    certs.push(pki.issue(osCa, 'late', { dn: 'C=XX, O=Lab, CN=late.lab', keyType: 'rsa', notBefore: new Date(Date.UTC(2049, 0, 1)), notAfter: new Date(Date.UTC(2051, 5, 30, 12, 0, 0)) }));
    certs.push(pki.issue(swCa, 'old', { dn: 'C=XX, O=Lab, CN=old.lab', tool: 'pki', notBefore: new Date(Date.now() - 400 * DAY), notAfter: new Date(Date.now() - 30 * DAY) }));
  });
  after(() => pki.cleanup());

  it('agrees with @peculiar/x509 and node:crypto on names, validity and extensions', () => {
    for (const c of certs) {
      const der = pemToDerList(c.certPem)[0]!;
      const ours = readTbsFields(der);
      const px = new x509.X509Certificate(der);
      const node = new NodeX509(der);
      const bc = px.getExtension(x509.BasicConstraintsExtension);
      const ku = px.getExtension(x509.KeyUsagesExtension);
      const ski = px.getExtension(x509.SubjectKeyIdentifierExtension);
      const names = px.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [];
      const what = c.name;
      assert.equal(ours.notBefore.getTime(), px.notBefore.getTime(), `${what} notBefore`);
      assert.equal(ours.notAfter.getTime(), px.notAfter.getTime(), `${what} notAfter`);
      assert.equal(ours.notAfter.getTime(), new Date(node.validTo).getTime(), `${what} notAfter (node)`);
      assert.equal(ours.isCa, bc?.ca ?? false, `${what} cA`);
      assert.equal(ours.isCa, node.ca, `${what} cA (node)`);
      assert.equal(ours.pathLen, bc?.pathLength, `${what} pathLen`);
      assert.equal(ours.keyUsage, ku ? ku.usages : undefined, `${what} keyUsage`);
      assert.deepEqual(ours.subjectKeyId, ski ? Buffer.from(ski.keyId, 'hex') : undefined, `${what} SKI`);
      assert.deepEqual(ours.sanDns, names.filter((n) => n.type === 'dns').map((n) => n.value), `${what} dNSName`);
      assert.deepEqual(ours.sanEmail, names.filter((n) => n.type === 'email').map((n) => n.value), `${what} rfc822Name`);
      const ipBytes = (list: string[]): string[] => list.map((ip) => addressBytes(ip)!.toString('hex'));
      assert.deepEqual(ipBytes(ours.sanIp), ipBytes(names.filter((n) => n.type === 'ip').map((n) => n.value)), `${what} iPAddress`);
      assert.deepEqual(ours.spki, Buffer.from(px.publicKey.rawData), `${what} SubjectPublicKeyInfo`);
      assert.deepEqual(ours.subject, Buffer.from(px.subjectName.toArrayBuffer()), `${what} subject`);
      assert.deepEqual(ours.issuer, Buffer.from(px.issuerName.toArrayBuffer()), `${what} issuer`);
    }
    // The fixtures exercise what they claim to.
    const many = readTbsFields(pemToDerList(certs[3]!.certPem)[0]!);
    assert.equal(many.sanIp.length, 2);
    assert.equal(many.sanEmail.length, 1);
    assert.equal(readTbsFields(pemToDerList(certs[2]!.certPem)[0]!).pathLen, 0);
    assert.equal(readTbsFields(pemToDerList(certs[5]!.certPem)[0]!).notAfter.toISOString(), '2051-06-30T12:00:00.000Z');
  });

  it('refuses truncated and altered encodings with a CertParseError', () => {
    const der = pemToDerList(certs[3]!.certPem)[0]!;
    for (const cut of [10, 100, der.length - 1]) {
      assert.throws(() => parseCertificate(der.subarray(0, cut)), CertParseError, `cut at ${cut}`);
    }
    const bad = Buffer.from(der);
    bad[bad.length - 300] = bad[bad.length - 300]! ^ 0xff; // inside the extensions or the signature: either the reader or node refuses, or the signature no longer verifies
    try {
      const c = parseCertificate(bad);
      const ca = parseCertificate(pemToDerList(certs[0]!.certPem)[0]!);
      assert.equal(c.node.verify(ca.publicKey), false);
    } catch (e) {
      assert.ok(e instanceof CertParseError);
    }
  });
});
