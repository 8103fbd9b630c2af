import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  createAuthProvider, parseCertificatePem, pemToDerList, validateChain, type CertInfo, type ChainResult,
} from '../../src/ike/auth/index.js';
import { TestPki, type CertFiles } from '../helpers/certs.js';
import { sh } from '../helpers/netns.js';

const DAY = 86_400_000;

function ders(...certs: CertFiles[]): Buffer[] {
  return certs.flatMap((c) => pemToDerList(c.certPem));
}
function reason(r: ChainResult): string {
  assert.equal(r.ok, false, 'expected a refusal');
  return (r as { reason: string }).reason;
}

describe('ike/auth certificate chains', () => {
  let pki: TestPki;
  const now = new Date();
  let swCa: CertFiles; // strongSwan pki, ECDSA
  let osCa: CertFiles; // openssl, RSA
  let otherCa: CertFiles; // unrelated, same DN as swCa but another key
  let swNode: CertFiles;
  let osNode: CertFiles;
  let otherNode: CertFiles;
  let expired: CertFiles;
  let future: CertFiles;
  let inter: CertFiles;
  let interNode: CertFiles;
  let notCa: CertFiles;
  let underNotCa: CertFiles;
  let anchorsSw: CertInfo[];
  let anchorsOs: CertInfo[];

  before(() => {
    pki = new TestPki('oit-auth-chain');
    swCa = pki.createCa('swca', { dn: 'C=XX, O=Lab, CN=Lab Root CA', keyType: 'ecdsa', tool: 'pki' });
    osCa = pki.createCa('osca', { dn: 'C=XX, O=Lab, CN=OpenSSL Root CA', keyType: 'rsa', tool: 'openssl' });
    otherCa = pki.createCa('otherca', { dn: 'C=XX, O=Lab, CN=Lab Root CA', keyType: 'ecdsa', tool: 'openssl' });
    swNode = pki.issue(swCa, 'swnode', { dn: 'C=XX, O=Lab, CN=a.lab', tool: 'pki', sans: ['a.lab'] });
    osNode = pki.issue(osCa, 'osnode', { dn: 'C=XX, O=Lab, CN=b.lab', keyType: 'rsa', tool: 'openssl', sans: ['b.lab'] });
    otherNode = pki.issue(otherCa, 'othernode', { dn: 'C=XX, O=Lab, CN=a.lab', tool: 'openssl', sans: ['a.lab'] });
    expired = pki.issue(swCa, 'expired', {
      dn: 'C=XX, O=Lab, CN=old.lab', tool: 'pki', sans: ['old.lab'],
      notBefore: new Date(now.getTime() - 400 * DAY), notAfter: new Date(now.getTime() - 30 * DAY),
    });
    future = pki.issue(osCa, 'future', {
      dn: 'C=XX, O=Lab, CN=new.lab', tool: 'openssl', sans: ['new.lab'],
      notBefore: new Date(now.getTime() + 10 * DAY), notAfter: new Date(now.getTime() + 400 * DAY),
    });
    inter = pki.issue(osCa, 'inter', { dn: 'C=XX, O=Lab, CN=Intermediate', keyType: 'ecdsa', tool: 'openssl', ca: true, pathLen: 0 });
    interNode = pki.issue(inter, 'internode', { dn: 'C=XX, O=Lab, CN=c.lab', tool: 'openssl', sans: ['c.lab'] });
    notCa = pki.issue(osCa, 'notca', { dn: 'C=XX, O=Lab, CN=Not A CA', tool: 'openssl', sans: ['notca.lab'] });
    underNotCa = pki.issue(notCa, 'undernotca', { dn: 'C=XX, O=Lab, CN=d.lab', tool: 'openssl', sans: ['d.lab'] });
    anchorsSw = parseCertificatePem(swCa.certPem, 'sw CA');
    anchorsOs = parseCertificatePem(osCa.certPem, 'os CA');
  });
  after(() => pki.cleanup());

  it('accepts a pki-made ECDSA certificate under its pki-made CA', () => {
    const r = validateChain(ders(swNode), anchorsSw, now);
    assert.equal(r.ok, true);
  });
  it('accepts an openssl-made RSA certificate under its openssl-made CA', () => {
    assert.equal(validateChain(ders(osNode), anchorsOs, now).ok, true);
  });
  it('refuses a certificate from another CA, even one with the same CA name', () => {
    assert.match(reason(validateChain(ders(osNode), anchorsSw, now)), /not issued by a trusted CA/);
    assert.match(reason(validateChain(ders(otherNode), anchorsSw, now)), /not issued by a trusted CA/);
  });
  it('refuses an expired certificate, naming the date', () => {
    const r = reason(validateChain(ders(expired), anchorsSw, now));
    assert.match(r, /certificate "C=XX, O=Lab, CN=old.lab" expired on \d{4}-\d\d-\d\dT/);
  });
  it('refuses a certificate not yet valid', () => {
    assert.match(reason(validateChain(ders(future), anchorsOs, now)), /is not valid before/);
  });
  it('uses the injected clock: a valid certificate is expired two years later', () => {
    assert.match(reason(validateChain(ders(swNode), anchorsSw, new Date(now.getTime() + 730 * DAY))), /expired on/);
  });
  it('follows an intermediate the peer sent (and refuses without it)', () => {
    assert.equal(validateChain(ders(interNode, inter), anchorsOs, now).ok, true);
    assert.match(reason(validateChain(ders(interNode), anchorsOs, now)), /not issued by a trusted CA/);
  });
  it('refuses a path through a certificate that is not a CA', () => {
    assert.match(reason(validateChain(ders(underNotCa, notCa), anchorsOs, now)), /basicConstraints cA=TRUE/);
  });
  it('refuses garbage and empty certificate lists without throwing', () => {
    assert.match(reason(validateChain([], anchorsOs, now)), /no certificate/);
    assert.match(reason(validateChain([Buffer.from('3003020101', 'hex')], anchorsOs, now)), /peer certificate 1/);
    const truncated = ders(osNode)[0]!.subarray(0, 200);
    assert.match(reason(validateChain([truncated], anchorsOs, now)), /peer certificate 1/);
  });
  it('CERTREQ hash equals openssl x509 -pubkey | openssl pkey -pubin -outform DER | sha1sum', () => {
    const provider = createAuthProvider({
      c: { local: { auth: 'pubkey', certPem: swNode.certPem, keyPem: swNode.keyPem }, remote: { auth: 'pubkey' }, caPems: [swCa.certPem, osCa.certPem] },
    }, () => now);
    const expected = [swCa, osCa].map((ca) => {
      const out = sh(['sh', '-c', `openssl x509 -in '${ca.certPath}' -pubkey -noout | openssl pkey -pubin -outform DER | sha1sum`]).stdout;
      return out.split(' ')[0]!;
    }).join('');
    assert.equal(provider.certReq('c').toString('hex'), expected);
  });
});
