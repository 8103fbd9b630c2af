import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { NetnsLab } from '../helpers/netns.js';
import { TestPki, type CertFiles } from '../helpers/certs.js';
import { StrongSwan } from '../helpers/strongswan.js';
import { Libreswan } from '../helpers/libreswan.js';

/**
 * Validates the libreswan harness: pluto 4.10 (from /opt/libreswan) against strongSwan, IKE only
 * (this kernel has no ESP for pluto). The reference's strongswan-peer-ls.conf scenario (PSK,
 * strongSwan initiates) plus pluto initiating with ECDSA certificates, an IKE rekey and a delete.
 */
const IP_LS = '10.252.0.1';
const IP_SW = '10.252.0.2';
const SECRET = 'libreswan-interop-secret-0123456789';

describe('libreswan harness (pluto ↔ strongSwan)', () => {
  let lab: NetnsLab;
  let pki: TestPki;
  let nsLs: string;
  let nsSw: string;
  let ls: Libreswan | undefined;
  let sw: StrongSwan | undefined;
  let ca: CertFiles;
  let nodeA: CertFiles;
  let nodeB: CertFiles;

  before(() => {
    lab = new NetnsLab('oit-ls');
    nsLs = lab.addNs('pluto');
    nsSw = lab.addNs('charon');
    lab.veth(nsLs, 'lsa', `${IP_LS}/24`, nsSw, 'lsb', `${IP_SW}/24`);
    pki = new TestPki('oit-ls-pki');
    ca = pki.createCa('ca', { dn: 'C=XX, O=Lab, CN=Lab Root CA', tool: 'pki' });
    nodeA = pki.issue(ca, 'a', { dn: 'C=XX, O=Lab, CN=nodeA.lab', tool: 'pki', sans: ['nodeA.lab'] });
    nodeB = pki.issue(ca, 'b', { dn: 'C=XX, O=Lab, CN=nodeB.lab', tool: 'pki', sans: ['nodeB.lab'] });
  });

  after(async () => {
    await ls?.stop();
    await sw?.stop();
    await lab.cleanup();
    pki.cleanup();
  });

  it('PSK, strongSwan initiates: IKE_SA_INIT + IKE_AUTH complete, pluto answers the CHILD with TS_UNACCEPTABLE', async () => {
    const t0 = Date.now();
    [ls, sw] = await Promise.all([
      Libreswan.start({
        lab, ns: nsLs, name: 'psk',
        connections: [{ name: 'ls', left: IP_LS, right: IP_SW, leftId: '@ls-nodeA', rightId: '@ls-nodeB', auth: 'psk', psk: SECRET }],
      }),
      StrongSwan.start({
        lab, ns: nsSw, name: 'psk',
        connections: [{
          name: 'ls', localAddrs: [IP_SW], remoteAddrs: [IP_LS],
          local: { auth: 'psk', id: 'ls-nodeB' }, remote: { auth: 'psk', id: 'ls-nodeA' }, psk: SECRET,
          children: [{ name: 'ls', espProposals: ['aes256gcm16', 'aes256gcm16-modp2048'] }],
        }],
      }),
    ]);
    const r = await sw.initiate('ls', { timeoutS: 10 });
    assert.match(r.stdout, /authentication of 'ls-nodeA' with pre-shared key successful/);
    assert.match(r.stdout, /received TS_UNACCEPTABLE notify, no CHILD_SA built/);
    const swIke = (await sw.listSas()).find((s) => s.name === 'ls' && s.state === 'ESTABLISHED');
    assert.ok(swIke, 'strongSwan keeps the IKE SA');
    assert.equal(swIke.dhGroup, 'MODP_2048');
    const lsIke = await ls.establishedIke('ls');
    assert.equal(lsIke.length, 1, 'pluto holds one established IKE SA');
    assert.equal(ls.ikeEstablishedCount('ls'), 1);
    console.log(`  pluto + charon up, IKE established in ${Date.now() - t0} ms`);
  });

  it('pluto rekeys the IKE SA (strongSwan sees new SPIs), then deletes it (strongSwan drops it)', async () => {
    assert.ok(ls && sw);
    const oldSpi = (await sw.listSas())[0]!.initiatorSpi;
    const before = (await ls.establishedIke('ls'))[0]!.serial;
    assert.ok((await ls.rekeyIke('ls')).ok);
    await sw.waitForSas((s) => s.length === 1 && s[0]!.state === 'ESTABLISHED' && s[0]!.initiatorSpi !== oldSpi, 'IKE SA rekeyed by pluto');
    await ls.waitForStates((s) => s.some((x) => x.ike && x.established && x.serial > before), 'new IKE SA in pluto');
    assert.ok((await ls.terminate('ls')).ok);
    await sw.waitForSas((s) => s.length === 0, 'strongSwan without SAs after pluto deleted the IKE SA');
    assert.equal((await ls.establishedIke('ls')).length, 0);
  });

  it('ECDSA certificates, pluto initiates (with --impair revival): IKE_AUTH verified both ways', async () => {
    assert.ok(ls && sw);
    const dirs = [ls.dir, sw.dir];
    await ls.stop();
    await sw.stop();
    ls = undefined;
    sw = undefined;
    for (const d of dirs) assert.equal(existsSync(d), false, `${d} removed`);
    [ls, sw] = await Promise.all([
      Libreswan.start({
        lab, ns: nsLs, name: 'cert',
        connections: [{
          name: 'lscert', left: IP_LS, right: IP_SW, leftId: '@nodeA.lab', rightId: '@nodeB.lab', auth: 'ecdsa',
          certPem: nodeA.certPem, keyPem: nodeA.keyPem, caPems: [ca.certPem], ike: 'aes_gcm256-sha2_256;dh19',
        }],
      }),
      StrongSwan.start({
        lab, ns: nsSw, name: 'cert',
        connections: [{
          name: 'lscert', localAddrs: [IP_SW], remoteAddrs: [IP_LS],
          local: { auth: 'pubkey', id: 'nodeB.lab', certPem: nodeB.certPem, keyPem: nodeB.keyPem },
          remote: { auth: 'pubkey', id: 'nodeA.lab' }, caPems: [ca.certPem], children: [{ name: 'lscert' }],
        }],
      }),
    ]);
    assert.ok((await ls.initiate('lscert')).ok);
    const sas = await sw.waitForSas((s) => s.some((x) => x.name === 'lscert' && x.state === 'ESTABLISHED'), 'IKE SA from pluto');
    assert.equal(sas[0]!.initiator, false);
    assert.equal(sas[0]!.dhGroup, 'ECP_256');
    assert.match(sw.log(), /authentication of 'nodeA.lab' with ECDSA_WITH_SHA\d+_DER successful/);
    await waitForLog(ls, 'lscert');
    assert.ok(ls.events().some((l) => /authenticated peer .*ECDSA.* using peer certificate '@nodeB.lab'/.test(l)));
  });

  it('RSA certificates (rsasig), strongSwan initiates: RFC 7427 PKCS#1 v1.5 SHA-256 accepted both ways', async () => {
    assert.ok(ls && sw);
    await ls.stop();
    await sw.stop();
    ls = undefined;
    sw = undefined;
    const rsaA = pki.issue(ca, 'ra', { dn: 'C=XX, O=Lab, CN=rsaA.lab', keyType: 'rsa', sans: ['rsaA.lab'] });
    const rsaB = pki.issue(ca, 'rb', { dn: 'C=XX, O=Lab, CN=rsaB.lab', keyType: 'rsa', sans: ['rsaB.lab'] });
    [ls, sw] = await Promise.all([
      Libreswan.start({
        lab, ns: nsLs, name: 'rsa',
        connections: [{
          name: 'lsrsa', left: IP_LS, right: IP_SW, leftId: '@rsaA.lab', rightId: '@rsaB.lab', auth: 'rsasig',
          certPem: rsaA.certPem, keyPem: rsaA.keyPem, caPems: [ca.certPem],
        }],
      }),
      StrongSwan.start({
        lab, ns: nsSw, name: 'rsa',
        connections: [{
          name: 'lsrsa', localAddrs: [IP_SW], remoteAddrs: [IP_LS],
          local: { auth: 'pubkey', id: 'rsaB.lab', certPem: rsaB.certPem, keyPem: rsaB.keyPem },
          remote: { auth: 'pubkey', id: 'rsaA.lab' }, caPems: [ca.certPem], children: [{ name: 'lsrsa' }],
        }],
      }),
    ]);
    const r = await sw.initiate('lsrsa', { timeoutS: 10 });
    assert.match(r.stdout, /authentication of 'rsaA.lab' with RSA_EMSA_PKCS1_SHA2_256 successful/);
    assert.equal((await ls.establishedIke('lsrsa')).length, 1);
    assert.ok(ls.events().some((l) => /authenticated peer .*PKCS#1 1.5 RSA with SHA2_256/.test(l)));
  });
});

async function waitForLog(ls: Libreswan, conn: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (ls.ikeEstablishedCount(conn) === 0) {
    if (Date.now() > end) throw new Error(`pluto never logged an established IKE SA:\n${ls.events().slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
