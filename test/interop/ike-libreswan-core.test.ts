import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NetnsLab, waitFor } from '../helpers/netns.js';
import { TestPki, type CertFiles } from '../helpers/certs.js';
import { Libreswan, type LsConnection } from '../helpers/libreswan.js';
import type { IkeConnectionConfig } from '../../src/ike/config.js';
import { Driver } from './ike-driver-client.js';

/**
 * Our IKE engine against libreswan 4.10 pluto (an independent IKEv2 implementation; it cannot
 * install ESP on this kernel, so as responder it answers the CHILD with TS_UNACCEPTABLE and keeps
 * the IKE SA): IKE_SA_INIT + IKE_AUTH with certificates, IKE rekey from both sides, DELETE.
 */
const IP_OURS = '10.253.0.1';
const IP_LS = '10.253.0.2';

describe('IKE core against libreswan 4.10 pluto', () => {
  let lab: NetnsLab;
  let nsOurs: string;
  let nsLs: string;
  let pki: TestPki;
  let ca: CertFiles;
  const certs: Record<string, CertFiles> = {};
  let ls: Libreswan | undefined;
  let driver: Driver | undefined;

  before(() => {
    lab = new NetnsLab('oit-ikel');
    nsOurs = lab.addNs('ours');
    nsLs = lab.addNs('ls');
    lab.veth(nsOurs, 'vo', `${IP_OURS}/24`, nsLs, 'vl', `${IP_LS}/24`);
    pki = new TestPki('oit-ikel-pki');
    ca = pki.createCa('ca', { dn: 'C=XX, O=Lab, CN=IKE libreswan CA', keyType: 'ecdsa' });
    for (const kt of ['ecdsa', 'rsa'] as const) {
      certs[`ours-${kt}`] = pki.issue(ca, `ours-${kt}`, { dn: 'C=XX, O=Lab, CN=ours.example', keyType: kt, sans: ['ours.example'] });
      certs[`ls-${kt}`] = pki.issue(ca, `ls-${kt}`, { dn: 'C=XX, O=Lab, CN=pluto.example', keyType: kt, sans: ['pluto.example'] });
    }
  });

  after(async () => {
    if (driver) await lab.stop(driver.process);
    await ls?.stop();
    await lab.cleanup();
    pki.cleanup();
  });

  async function setup(kt: 'ecdsa' | 'rsa', ike: { ours: string; pluto: string }, extra: Partial<LsConnection> = {}, ours: Partial<IkeConnectionConfig> = {}): Promise<{ d: Driver; l: Libreswan }> {
    if (driver) await lab.stop(driver.process);
    await ls?.stop();
    driver = undefined;
    ls = undefined;
    ls = await Libreswan.start({
      lab, ns: nsLs, name: 'core',
      connections: [{
        name: 'site', left: IP_LS, right: IP_OURS, leftId: '@pluto.example', rightId: '@ours.example',
        auth: kt === 'ecdsa' ? 'ecdsa' : 'rsasig', certPem: certs[`ls-${kt}`]!.certPem, keyPem: certs[`ls-${kt}`]!.keyPem, caPems: [ca.certPem],
        ike: ike.pluto, esp: 'aes_gcm256', leftSubnet: '10.2.0.0/24', rightSubnet: '10.1.0.0/24', ...extra,
      }],
    });
    const c = certs[`ours-${kt}`]!;
    driver = await Driver.start(lab, nsOurs, [{
      name: 'site', localAddrs: [IP_OURS], remoteAddrs: [IP_LS], proposals: [ike.ours],
      children: [{ name: 'net', mode: 'tunnel', localTs: ['10.1.0.0/24'], remoteTs: ['10.2.0.0/24'], espProposals: ['aes256gcm16'] }],
      ...ours,
    }], {
      local: { auth: 'pubkey', certPem: c.certPem, keyPem: c.keyPem, id: 'ours.example' },
      remote: { auth: 'pubkey', id: 'pluto.example' },
      caPems: [ca.certPem],
    });
    return { d: driver, l: ls };
  }

  it('we initiate with ECDSA certificates (DH19): IKE SA up on both, CHILD refused by pluto (no ESP here), IKE rekey both ways, DELETE', async () => {
    const { d, l } = await setup('ecdsa', { ours: 'aes256gcm16-prfsha256-ecp256', pluto: 'aes_gcm256-sha2_256;dh19' });
    d.command({ cmd: 'initiate', conn: 'site' });
    await d.waitFor((e) => e.some((x) => x.kind === 'ike-up'), 'our ike-up');
    await l.waitForStates((s) => s.some((x) => x.ike && x.established), 'pluto IKE SA established');
    assert.ok(d.logs().some((x) => /authenticated peer 'pluto.example'/.test(x)), d.logs().join('\n'));
    await d.waitFor((e) => e.some((x) => x.kind === 'log' && /IPsec SA "net" not established: TS_UNACCEPTABLE/.test(String(x.line))), 'pluto refused the child');
    // we rekey the IKE SA
    d.command({ cmd: 'rekeyIke', conn: 'site' });
    await d.waitFor((e) => e.filter((x) => x.kind === 'ike-up').length === 2, 'our IKE rekey');
    await l.waitForStates((s) => s.filter((x) => x.ike && x.established).length === 1 && s.some((x) => x.ike && x.established && x.serial > 1), 'pluto on the new IKE SA');
    // pluto rekeys the IKE SA
    assert.ok((await l.rekeyIke('site')).ok);
    await d.waitFor((e) => e.filter((x) => x.kind === 'ike-up').length === 3, 'pluto\'s IKE rekey');
    d.command({ cmd: 'status' });
    await d.waitFor((e) => e.some((x) => x.kind === 'status'), 'status');
    const st = d.of('status').at(-1)!.status as { ike_sas: Array<{ spi_i: string; state: string }> };
    await new Promise((r) => setTimeout(r, 500));
    // DELETE from us: pluto forgets the IKE SA
    d.command({ cmd: 'terminate', conn: 'site' });
    await d.waitFor((e) => e.filter((x) => x.kind === 'ike-down').some((x) => x.reason === 'terminated'), 'our ike-down');
    await l.waitForStates((s) => !s.some((x) => x.ike && x.established), 'pluto has no IKE SA');
    assert.ok(st.ike_sas.some((x) => x.state === 'established'));
  });

  it('pluto initiates with RSA certificates: we authenticate it and it authenticates us', async () => {
    const { d, l } = await setup('rsa', { ours: 'aes256gcm16-prfsha256-modp2048', pluto: 'aes_gcm256-sha2_256;modp2048' });
    assert.ok((await l.initiate('site', { wait: false })).ok);
    await d.waitFor((e) => e.some((x) => x.kind === 'ike-up'), 'our ike-up (pluto initiated)', 20_000);
    assert.ok(d.logs().some((x) => /authenticated peer 'pluto.example'/.test(x)));
    assert.ok(d.of('child-up').length >= 1, `we installed the child pluto asked for: ${d.logs().join('\n')}`);
    // pluto logs its verdict after it has processed our IKE_AUTH response
    await waitFor(() => l.events().some((x) => /established IKE SA|authenticated peer/.test(x)), 'pluto authenticated us', 10_000, 50);
  });
});
