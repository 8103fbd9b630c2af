import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ID_DER_ASN1_DN, ID_FQDN, ID_IPV4_ADDR, ID_IPV6_ADDR, ID_KEY_ID, ID_RFC822_ADDR,
  decodeIdBody, encodeIdBody, idEquals, idMatches, idToString, parseCertificatePem, parseIdString, certNamesId,
} from '../../src/ike/auth/index.js';
import { TestPki, type CertFiles } from '../helpers/certs.js';

describe('ike/auth identities', () => {
  describe('parsing configured ids as strongSwan does', () => {
    const cases: Array<[string, number, string]> = [
      ['a.example', ID_FQDN, Buffer.from('a.example').toString('hex')],
      ['@a.example', ID_FQDN, Buffer.from('a.example').toString('hex')],
      ['fqdn:b.example', ID_FQDN, Buffer.from('b.example').toString('hex')],
      ['10.250.0.1', ID_IPV4_ADDR, '0afa0001'],
      ['ipv4:192.0.2.7', ID_IPV4_ADDR, 'c0000207'],
      ['2001:db8::1', ID_IPV6_ADDR, '20010db8000000000000000000000001'],
      ['user@a.example', ID_RFC822_ADDR, Buffer.from('user@a.example').toString('hex')],
      ['@@user@a.example', ID_RFC822_ADDR, Buffer.from('user@a.example').toString('hex')],
      ['@#0a1b2c', ID_KEY_ID, '0a1b2c'],
      ['keyid:#ffee', ID_KEY_ID, 'ffee'],
    ];
    for (const [s, type, hex] of cases) {
      it(`"${s}" → type ${type}`, () => {
        const id = parseIdString(s)!;
        assert.equal(id.type, type);
        assert.equal(id.data.toString('hex'), hex);
      });
    }
    it('DNs in comma and slash form are the same id', () => {
      const a = parseIdString('C=XX, O=Lab, CN=node.lab')!;
      const b = parseIdString('/C=XX/O=Lab/CN=node.lab')!;
      assert.equal(a.type, ID_DER_ASN1_DN);
      assert.ok(a.data.equals(b.data));
      assert.equal(idToString(a), 'C=XX, O=Lab, CN=node.lab');
    });
    it('%any and empty mean "any peer"', () => {
      assert.equal(parseIdString('%any'), null);
      assert.equal(parseIdString(''), null);
    });
    it('bad ids are refused with the reason', () => {
      assert.throws(() => parseIdString('ipv4:999.1.1.1'), /not an IPv4 address/);
      assert.throws(() => parseIdString('Q=1, CN=x'), /unknown DN attribute type "Q"/);
      assert.throws(() => parseIdString('@#xyz'), /bad hex/);
    });
  });

  describe('ID payload bodies', () => {
    it('encode puts type and three reserved zero octets before the data, decode reverses it', () => {
      const id = parseIdString('node.lab')!;
      const body = encodeIdBody(id);
      assert.equal(body.toString('hex'), '02000000' + Buffer.from('node.lab').toString('hex'));
      assert.deepEqual(decodeIdBody(body), id);
    });
    it('decode of a body shorter than 4 octets is null, not a crash', () => {
      assert.equal(decodeIdBody(Buffer.from([2, 0])), null);
    });
    it('matching: FQDN case-insensitive, DN by attribute, type must agree', () => {
      assert.ok(idEquals(parseIdString('Node.Lab')!, parseIdString('node.lab')!));
      assert.ok(idEquals(parseIdString('C=XX, O=Lab, CN=n')!, parseIdString('c=xx, o=lab, cn=N')!));
      assert.ok(!idEquals(parseIdString('C=XX, O=Lab, CN=n')!, parseIdString('C=XX, CN=n, O=Lab')!));
      assert.ok(!idEquals(parseIdString('10.0.0.1')!, parseIdString('10.0.0.2')!));
      assert.ok(!idEquals(parseIdString('node.lab')!, parseIdString('user@node.lab')!));
      // strongSwan-style wildcards in the configured id
      assert.ok(idMatches(parseIdString('*.lab')!, parseIdString('Node-1.LAB')!));
      assert.ok(!idMatches(parseIdString('*.lab')!, parseIdString('node.lab.evil')!));
      assert.ok(idMatches(parseIdString('*@lab')!, parseIdString('ops@lab')!));
      assert.ok(idMatches(parseIdString('C=XX, O=Lab, CN=*')!, parseIdString('C=XX, O=Lab, CN=anything')!));
      assert.ok(!idMatches(parseIdString('C=XX, O=Lab, CN=*')!, parseIdString('C=XX, O=Other, CN=x')!));
      assert.ok(!idMatches(parseIdString('C=XX, O=Lab, CN=*')!, parseIdString('C=XX, O=Lab, OU=a, CN=x')!));
      assert.ok(idMatches(parseIdString('node.lab')!, parseIdString('NODE.lab')!));
      assert.ok(!idMatches(parseIdString('node.lab')!, parseIdString('xnode.lab')!));
      // A DN id whose data is not DER never matches (and never throws).
      assert.ok(!idEquals(parseIdString('C=XX, CN=n')!, { type: ID_DER_ASN1_DN, data: Buffer.from('junk') }));
    });
  });

  describe('against certificates from strongSwan pki and openssl', () => {
    let pki: TestPki;
    let swNode: CertFiles;
    let osNode: CertFiles;
    before(() => {
      pki = new TestPki('oit-auth-id');
      const ca = pki.createCa('ca', { dn: 'C=XX, O=Lab, CN=Id CA', tool: 'pki' });
      swNode = pki.issue(ca, 'sw', { dn: 'C=XX, O=Lab, CN=sw.lab', tool: 'pki', sans: ['sw.lab', '10.250.0.1', 'ops@sw.lab'] });
      osNode = pki.issue(ca, 'os', { dn: 'C=XX, O=Lab, CN=os.lab', tool: 'openssl', sans: ['os.lab', '10.250.0.2'] });
    });
    after(() => pki.cleanup());

    it('our DN encoding equals the subject strongSwan pki writes, byte for byte', () => {
      const cert = parseCertificatePem(swNode.certPem, 'sw')[0]!;
      assert.equal(parseIdString(swNode.dn)!.data.toString('hex'), cert.subjectDer.toString('hex'));
    });
    it('openssl encodes strings differently (UTF8String) yet the DN id still matches its subject', () => {
      const cert = parseCertificatePem(osNode.certPem, 'os')[0]!;
      assert.ok(certNamesId(cert, parseIdString('C=XX, O=Lab, CN=os.lab')!));
      assert.equal(cert.subjectText, 'C=XX, O=Lab, CN=os.lab');
    });
    it('a certificate names its SAN DNS, SAN IP, SAN email and subject DN — nothing else', () => {
      const sw = parseCertificatePem(swNode.certPem, 'sw')[0]!;
      assert.ok(certNamesId(sw, parseIdString('sw.lab')!));
      assert.ok(certNamesId(sw, parseIdString('10.250.0.1')!));
      assert.ok(certNamesId(sw, parseIdString('ops@sw.lab')!));
      assert.ok(certNamesId(sw, parseIdString('C=XX, O=Lab, CN=sw.lab')!));
      assert.ok(!certNamesId(sw, parseIdString('os.lab')!));
      assert.ok(!certNamesId(sw, parseIdString('10.250.0.2')!));
      assert.ok(!certNamesId(sw, parseIdString('C=XX, O=Lab, CN=os.lab')!));
    });
  });
});
