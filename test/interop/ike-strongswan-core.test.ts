import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NetnsLab } from '../helpers/netns.js';
import { DEFAULT_PSK, Driver } from './ike-driver-client.js';
import { StrongSwan, type SwanConnection, type SwanIkeSa } from '../helpers/strongswan.js';
import { TestPki, type CertFiles } from '../helpers/certs.js';
import type { IkeConnectionConfig } from '../../src/ike/config.js';

/**
 * Our IKE engine (driven over real UDP sockets by ike-core-driver.ts in one namespace) against
 * strongSwan 5.9.8 charon (kernel-libipsec) in another: IKE_SA_INIT + IKE_AUTH with PSK in both
 * roles and with each key exchange group, child and IKE rekeys from both sides, DELETE.
 * Evidence is strongSwan's own view: `swanctl --list-sas` SPIs and algorithms, and the child keys
 * charon logs, compared with what our engine hands to the data path.
 */
const IP_OURS = '10.252.0.1';
const IP_SWAN = '10.252.0.2';
const PSK = DEFAULT_PSK;

function ourConn(proposals: string[], esp: string[], over: Partial<IkeConnectionConfig> = {}): IkeConnectionConfig {
  return {
    name: 'site',
    localAddrs: [IP_OURS],
    remoteAddrs: [IP_SWAN],
    proposals,
    children: [{ name: 'net', mode: 'tunnel', localTs: ['10.1.0.0/24'], remoteTs: ['10.2.0.0/24'], espProposals: esp }],
    ...over,
  };
}

function swanConn(proposals: string[], esp: string[]): SwanConnection {
  return {
    name: 'site',
    localAddrs: [IP_SWAN],
    remoteAddrs: [IP_OURS],
    proposals,
    local: { auth: 'psk', id: 'swan.example' },
    remote: { auth: 'psk', id: 'ours.example' },
    psk: PSK,
    children: [{ name: 'net', localTs: ['10.2.0.0/24'], remoteTs: ['10.1.0.0/24'], espProposals: esp, startAction: 'none' }],
  };
}

const hex8 = (n: unknown): string => (Number(n) >>> 0).toString(16).padStart(8, '0');

function installed(sas: SwanIkeSa[]): SwanIkeSa | undefined {
  return sas.find((s) => s.name === 'site' && s.state === 'ESTABLISHED' && s.children.some((c) => c.state === 'INSTALLED'));
}

describe('IKE core against strongSwan 5.9.8', () => {
  let lab: NetnsLab;
  let nsOurs: string;
  let nsSwan: string;
  let swan: StrongSwan | undefined;
  let driver: Driver | undefined;
  let pki: TestPki;
  let ca: CertFiles;
  let otherCa: CertFiles;
  const certs: Record<string, CertFiles> = {};

  before(() => {
    pki = new TestPki('oit-ike-pki');
    ca = pki.createCa('ca', { dn: 'C=XX, O=Lab, CN=IKE Interop CA', keyType: 'ecdsa' });
    otherCa = pki.createCa('other', { dn: 'C=XX, O=Elsewhere, CN=Other CA', keyType: 'ecdsa' });
    for (const kt of ['ecdsa', 'rsa'] as const) {
      certs[`ours-${kt}`] = pki.issue(ca, `ours-${kt}`, { dn: `C=XX, O=Lab, CN=ours.example`, keyType: kt, sans: ['ours.example'] });
      certs[`swan-${kt}`] = pki.issue(ca, `swan-${kt}`, { dn: `C=XX, O=Lab, CN=swan.example`, keyType: kt, sans: ['swan.example'] });
    }
    certs['ours-foreign'] = pki.issue(otherCa, 'ours-foreign', { dn: 'C=XX, O=Lab, CN=ours.example', keyType: 'ecdsa', sans: ['ours.example'] });
    const longAgo = new Date(Date.now() - 400 * 86_400_000);
    certs['ours-expired'] = pki.issue(ca, 'ours-expired', { dn: 'C=XX, O=Lab, CN=ours.example', keyType: 'ecdsa', sans: ['ours.example'], notBefore: longAgo, notAfter: new Date(longAgo.getTime() + 30 * 86_400_000) });

    lab = new NetnsLab('oit-ike');
    nsOurs = lab.addNs('ours');
    nsSwan = lab.addNs('swan');
    lab.veth(nsOurs, 'vo', `${IP_OURS}/24`, nsSwan, 'vs', `${IP_SWAN}/24`);
    // strongSwan routes the remote subnet through its TUN with a source address from its own subnet.
    lab.exec(nsSwan, ['ip', 'addr', 'add', '10.2.0.1/24', 'dev', 'lo']);
  });

  after(async () => {
    if (driver) await lab.stop(driver.process);
    await swan?.stop();
    await lab.cleanup();
    pki.cleanup();
  });

  const oursCert = (c: CertFiles, remoteId = 'swan.example'): object => ({
    local: { auth: 'pubkey', certPem: c.certPem, keyPem: c.keyPem, id: 'ours.example' },
    remote: { auth: 'pubkey', id: remoteId },
    caPems: [ca.certPem],
  });
  const swanCert = (c: CertFiles): Partial<SwanConnection> => ({
    local: { auth: 'pubkey', id: 'swan.example', certPem: c.certPem, keyPem: c.keyPem },
    remote: { auth: 'pubkey', id: 'ours.example' },
    caPems: [ca.certPem],
  });

  async function setup(proposals: string[], esp: string[], o: { swan?: Partial<SwanConnection>; ours?: Partial<IkeConnectionConfig>; oursAuth?: object; timers?: object; swanProposals?: string[]; charonExtra?: string[] } = {}): Promise<{ d: Driver; s: StrongSwan }> {
    if (driver) await lab.stop(driver.process);
    await swan?.stop();
    swan = undefined;
    driver = undefined;
    swan = await StrongSwan.start({ lab, ns: nsSwan, name: 'swan', connections: [{ ...swanConn(o.swanProposals ?? proposals, esp), ...o.swan }], ...(o.charonExtra ? { charonExtra: o.charonExtra } : {}) });
    driver = await Driver.start(lab, nsOurs, [ourConn(proposals, esp, o.ours)], o.oursAuth, o.timers);
    return { d: driver, s: swan };
  }

  /** Our child-up matches strongSwan's child: SPIs crossed, keys equal to those charon logged. */
  function checkChild(d: Driver, s: StrongSwan, sas: SwanIkeSa[]): void {
    const sa = installed(sas)!;
    const ups = d.of('child-up');
    const down = new Set(d.of('child-down').map((e) => e.spiIn));
    const live = ups.filter((u) => !down.has(u.spiIn));
    const child = sa.children.find((c) => c.state === 'INSTALLED' && live.some((u) => hex8(u.spiIn) === c.spiOut))!;
    assert.ok(child, `a strongSwan child matches one of ours: ${JSON.stringify(sa.children)} vs ${JSON.stringify(live)}`);
    const ours = live.find((u) => hex8(u.spiIn) === child.spiOut)!;
    assert.equal(hex8(ours.spiOut), child.spiIn);
    // charon logs "encryption key" dumps for each child (initiator→responder first)
    const dumps = s.logDumps();
    const keys = dumps.filter((x) => /^encryption (initiator|responder) key$/.test(x.label)).map((x) => x.data.toString('hex'));
    assert.ok(keys.includes(String(ours.keyIn)), `our inbound key is among strongSwan's: ${keys.length} keys; labels ${[...new Set(dumps.map((x) => x.label))].join(' | ')}`);
    assert.ok(keys.includes(String(ours.keyOut)));
  }

  for (const [ike, group] of [['aes256gcm16-prfsha256-modp2048', 'MODP_2048'], ['aes128gcm16-prfsha384-ecp256', 'ECP_256'], ['aes256gcm16-prfsha256-x25519', 'CURVE_25519']] as const) {
    it(`we initiate (PSK, ${ike}): strongSwan establishes IKE and CHILD SA with our SPIs and keys`, async () => {
      const esp = ike.startsWith('aes128') ? 'aes128gcm16' : 'aes256gcm16';
      const { d, s } = await setup([ike], [esp]);
      d.command({ cmd: 'initiate', conn: 'site' });
      const sas = await s.waitForSas((x) => installed(x) !== undefined, 'IKE and CHILD SA up');
      await d.waitFor((e) => e.some((x) => x.kind === 'child-up'), 'our child-up');
      const sa = installed(sas)!;
      assert.equal(sa.dhGroup, group);
      assert.equal(sa.initiator, false);
      assert.equal(sa.remotePort, 4500, 'we floated to 4500');
      assert.equal(d.of('ike-up')[0]!.spiI, sa.initiatorSpi);
      assert.equal(d.of('ike-up')[0]!.spiR, sa.responderSpi);
      assert.ok(sa.children[0]!.encap, 'ESP in UDP');
      checkChild(d, s, sas);
    });
  }

  it('strongSwan initiates: we respond, both ends agree', async () => {
    const { d, s } = await setup(['aes256gcm16-prfsha256-modp2048'], ['aes256gcm16-modp2048']);
    const r = await s.initiate('net', { ike: 'site' });
    assert.ok(r.ok, r.stdout + r.stderr + d.logs().join('\n'));
    const sas = await s.waitForSas((x) => installed(x) !== undefined, 'IKE and CHILD SA up');
    assert.equal(installed(sas)!.initiator, true);
    await d.waitFor((e) => e.some((x) => x.kind === 'child-up'), 'our child-up');
    checkChild(d, s, sas);
  });

  it('child rekey with PFS from both sides, then IKE rekey from both sides, then DELETE', async () => {
    const { d, s } = await setup(['aes256gcm16-prfsha256-ecp256'], ['aes256gcm16-ecp256']);
    d.command({ cmd: 'initiate', conn: 'site' });
    await s.waitForSas((x) => installed(x) !== undefined, 'up');
    await d.waitFor((e) => e.filter((x) => x.kind === 'child-up').length === 1, 'child up');
    // we rekey the child
    d.command({ cmd: 'rekeyChild', conn: 'site' });
    await d.waitFor((e) => e.filter((x) => x.kind === 'child-down').length === 1 && e.filter((x) => x.kind === 'child-up').length === 2, 'our child rekey done');
    let sas = await s.waitForSas((x) => installed(x)?.children.length === 1, 'strongSwan has one child');
    assert.equal(sas[0]!.children[0]!.dhGroup, 'ECP_256');
    checkChild(d, s, sas);
    // strongSwan rekeys the child
    assert.ok((await s.rekey({ child: 'net' })).ok);
    await d.waitFor((e) => e.filter((x) => x.kind === 'child-down').length === 2 && e.filter((x) => x.kind === 'child-up').length === 3, 'their child rekey done');
    sas = await s.waitForSas((x) => installed(x)?.children.length === 1, 'strongSwan has one child');
    checkChild(d, s, sas);
    // we rekey the IKE SA
    const spiBefore = installed(sas)!.initiatorSpi;
    d.command({ cmd: 'rekeyIke', conn: 'site' });
    await d.waitFor((e) => e.filter((x) => x.kind === 'ike-up').length === 2, 'our IKE rekey');
    sas = await s.waitForSas((x) => x.length === 1 && installed(x) !== undefined && installed(x)!.initiatorSpi !== spiBefore, 'one new IKE SA');
    assert.equal(d.of('ike-up')[1]!.spiI, installed(sas)!.initiatorSpi);
    // strongSwan rekeys the IKE SA
    assert.ok((await s.rekey({ ike: 'site' })).ok);
    await d.waitFor((e) => e.filter((x) => x.kind === 'ike-up').length === 3, 'their IKE rekey');
    sas = await s.waitForSas((x) => x.length === 1 && installed(x) !== undefined && installed(x)!.initiatorSpi === d.of('ike-up')[2]!.spiI, 'one newer IKE SA');
    // the child survived both IKE rekeys and still matches
    checkChild(d, s, sas);
    // DELETE from us
    d.command({ cmd: 'terminate', conn: 'site' });
    await s.waitForSas((x) => x.length === 0, 'strongSwan has no SA left');
    await d.waitFor((e) => e.some((x) => x.kind === 'ike-down'), 'our ike-down');
  });

  for (const kt of ['ecdsa', 'rsa'] as const) {
    it(`certificates (${kt}), we initiate and strongSwan initiates`, async () => {
      const { d, s } = await setup(['aes256gcm16-prfsha256-modp2048'], ['aes256gcm16'], { swan: swanCert(certs[`swan-${kt}`]!), oursAuth: oursCert(certs[`ours-${kt}`]!) });
      d.command({ cmd: 'initiate', conn: 'site' });
      let sas = await s.waitForSas((x) => installed(x) !== undefined, 'IKE and CHILD SA up (we initiate)');
      await d.waitFor((e) => e.some((x) => x.kind === 'child-up'), 'our child-up');
      checkChild(d, s, sas);
      assert.match(s.log(), /authentication of 'ours\.example' with (RSA|ECDSA)\S* signature successful|authentication of 'ours\.example' with \S+ successful/);
      d.command({ cmd: 'terminate', conn: 'site' });
      await s.waitForSas((x) => x.length === 0, 'deleted');
      const r = await s.initiate('net', { ike: 'site' });
      assert.ok(r.ok, r.stdout + d.logs().join('\n'));
      sas = await s.waitForSas((x) => installed(x) !== undefined, 'IKE and CHILD SA up (strongSwan initiates)');
      await d.waitFor((e) => e.filter((x) => x.kind === 'ike-up').length === 2, 'our second ike-up');
      checkChild(d, s, sas);
    });
  }

  it('refusal: our certificate from another CA → AUTHENTICATION_FAILED, no SA on either side', async () => {
    const { d, s } = await setup(['aes256gcm16-prfsha256-modp2048'], ['aes256gcm16'], { swan: swanCert(certs['swan-ecdsa']!), oursAuth: { ...oursCert(certs['ours-foreign']!), caPems: [ca.certPem] } });
    d.command({ cmd: 'initiate', conn: 'site' });
    await d.waitFor((e) => e.some((x) => x.kind === 'ike-down'), 'our ike-down');
    assert.equal(d.of('ike-down')[0]!.reason, 'AUTHENTICATION_FAILED');
    assert.deepEqual(await s.listSas(), []);
    assert.equal(d.of('child-up').length, 0);
  });

  it('refusal: an expired certificate → AUTHENTICATION_FAILED, no SA on either side', async () => {
    const { d, s } = await setup(['aes256gcm16-prfsha256-modp2048'], ['aes256gcm16'], { swan: swanCert(certs['swan-ecdsa']!), oursAuth: oursCert(certs['ours-expired']!) });
    d.command({ cmd: 'initiate', conn: 'site' });
    await d.waitFor((e) => e.some((x) => x.kind === 'ike-down'), 'our ike-down');
    assert.equal(d.of('ike-down')[0]!.reason, 'AUTHENTICATION_FAILED');
    assert.deepEqual(await s.listSas(), []);
  });

  it('refusal: strongSwan is not the remote id we expect → we answer AUTHENTICATION_FAILED, no SA left', async () => {
    const { d, s } = await setup(['aes256gcm16-prfsha256-modp2048'], ['aes256gcm16'], { swan: swanCert(certs['swan-ecdsa']!), oursAuth: oursCert(certs['ours-ecdsa']!, 'someone-else.example') });
    const r = await s.initiate('net', { ike: 'site', timeoutS: 5 });
    assert.equal(r.ok, false);
    assert.match(r.stdout, /AUTHENTICATION_FAILED/);
    assert.deepEqual(await s.listSas(), []);
    await d.waitFor((e) => e.some((x) => x.kind === 'log' && /authentication of peer .* failed/.test(String(x.line))), 'our refusal logged');
    d.command({ cmd: 'status' });
    await d.waitFor((e) => e.some((x) => x.kind === 'status'), 'status');
    assert.deepEqual((d.of('status').at(-1)!.status as { ike_sas: unknown[] }).ike_sas, []);
  });

  it('refusal: no proposal in common → NO_PROPOSAL_CHOSEN on both sides, no SA left', async () => {
    const { d, s } = await setup(['aes128gcm16-prfsha384-ecp256'], ['aes256gcm16'], { swanProposals: ['aes256gcm16-prfsha256-modp2048'] });
    d.command({ cmd: 'initiate', conn: 'site' });
    await d.waitFor((e) => e.some((x) => x.kind === 'ike-down'), 'our ike-down');
    assert.equal(d.of('ike-down')[0]!.reason, 'NO_PROPOSAL_CHOSEN');
    assert.deepEqual(await s.listSas(), []);
    const r = await s.initiate('net', { ike: 'site', timeoutS: 5 });
    assert.equal(r.ok, false);
    assert.match(r.stdout, /NO_PROPOSAL_CHOSEN/);
    assert.deepEqual(await s.listSas(), []);
  });

  it('DPD: a killed strongSwan is declared dead after the back-off', async () => {
    const { d, s } = await setup(['aes256gcm16-prfsha256-x25519'], ['aes256gcm16'], {
      ours: { dpdDelayMs: 1000 },
      timers: { retransmit: { timeoutMs: 500, base: 1.5, tries: 3 } },
    });
    d.command({ cmd: 'initiate', conn: 'site' });
    await s.waitForSas((x) => installed(x) !== undefined, 'up');
    await d.waitFor((e) => e.some((x) => x.kind === 'child-up'), 'child up');
    const t0 = Date.now();
    s.kill();
    await d.waitFor((e) => e.some((x) => x.kind === 'ike-down'), 'our ike-down', 20_000);
    const took = Date.now() - t0;
    assert.match(String(d.of('ike-down')[0]!.reason), /DPD/);
    assert.equal(d.of('child-down').length, 1);
    // 1 s idle + 0.5 × (1 + 1.5 + 2.25 + 3.375) s ≈ 5 s
    assert.ok(took > 3000 && took < 12_000, `dead after ${took} ms`);
  });

  it('IKE fragmentation (RFC 7383) both ways: RSA certificates over a 576-byte path', async () => {
    const { d, s } = await setup(['aes256gcm16-prfsha256-modp2048'], ['aes256gcm16'], {
      swan: { ...swanCert(certs['swan-rsa']!), fragmentation: 'yes' },
      oursAuth: oursCert(certs['ours-rsa']!),
      ours: { fragmentMtu: 576 },
      charonExtra: ['fragment_size = 576'],
    });
    d.command({ cmd: 'initiate', conn: 'site' });
    const sas = await s.waitForSas((x) => installed(x) !== undefined, 'IKE and CHILD SA up');
    await d.waitFor((e) => e.some((x) => x.kind === 'child-up'), 'our child-up');
    checkChild(d, s, sas);
    const log = s.log();
    assert.match(log, /received fragment #1 of \d+, waiting for complete IKE message/, 'strongSwan reassembled our fragments');
    assert.match(log, /splitting IKE message \(\d+ bytes\) into \d+ fragments/, 'strongSwan fragmented its answer to us');
    const sent = d.of('sent').filter((x) => (x.to as { port: number }).port === 4500);
    assert.ok(sent.every((x) => Number(x.length) + 28 <= 576), 'every datagram we sent fits the path');
  });

  it('INVALID_KE_PAYLOAD both ways: each side retries with the group the other asks for', async () => {
    // we send KE for MODP2048 first; strongSwan only takes ECP256
    let { d, s } = await setup(['aes256gcm16-prfsha256-modp2048-ecp256'], ['aes256gcm16'], { swanProposals: ['aes256gcm16-prfsha256-ecp256'] });
    d.command({ cmd: 'initiate', conn: 'site' });
    let sas = await s.waitForSas((x) => installed(x) !== undefined, 'up after our retry');
    assert.equal(installed(sas)!.dhGroup, 'ECP_256');
    assert.ok(d.logs().some((l) => l.includes('INVALID_KE_PAYLOAD, retrying with group 19')));
    // strongSwan sends KE for x25519 first; we only take MODP2048
    ({ d, s } = await setup(['aes256gcm16-prfsha256-modp2048'], ['aes256gcm16'], { swanProposals: ['aes256gcm16-prfsha256-x25519-modp2048'] }));
    const r = await s.initiate('net', { ike: 'site' });
    assert.ok(r.ok, r.stdout);
    assert.match(r.stdout, /N\(INVAL_KE\)[\s\S]*peer didn't accept DH group CURVE_25519, it requested MODP_2048/);
    sas = await s.waitForSas((x) => installed(x) !== undefined, 'up after strongSwan\'s retry');
    assert.equal(installed(sas)!.dhGroup, 'MODP_2048');
  });

  it('traffic selectors against strongSwan: narrowed to its subnet; disjoint → TS_UNACCEPTABLE, IKE SA kept, no child', async () => {
    let { d, s } = await setup(['aes256gcm16-prfsha256-x25519'], ['aes256gcm16'], {
      ours: { children: [{ name: 'net', mode: 'tunnel', localTs: ['10.1.0.0/16'], remoteTs: ['10.2.0.0/16'], espProposals: ['aes256gcm16'] }] },
    });
    d.command({ cmd: 'initiate', conn: 'site' });
    const sas = await s.waitForSas((x) => installed(x) !== undefined, 'up');
    await d.waitFor((e) => e.some((x) => x.kind === 'child-up'), 'child up');
    const up = d.of('child-up')[0]!;
    assert.deepEqual(up.localTs, [{ protocol: 0, startAddr: 0x0a010000, endAddr: 0x0a0100ff, startPort: 0, endPort: 65535 }], 'narrowed to 10.1.0.0/24');
    assert.deepEqual(installed(sas)!.children[0]!.remoteTs, ['10.1.0.0/24']);
    ({ d, s } = await setup(['aes256gcm16-prfsha256-x25519'], ['aes256gcm16'], {
      ours: { children: [{ name: 'net', mode: 'tunnel', localTs: ['10.7.0.0/24'], remoteTs: ['10.2.0.0/24'], espProposals: ['aes256gcm16'] }] },
    }));
    d.command({ cmd: 'initiate', conn: 'site' });
    await d.waitFor((e) => e.some((x) => x.kind === 'log' && /not established: TS_UNACCEPTABLE/.test(String(x.line))), 'TS_UNACCEPTABLE');
    const after = await s.waitForSas((x) => x.length === 1 && x[0]!.state === 'ESTABLISHED', 'IKE SA kept');
    assert.equal(after[0]!.children.length, 0);
    assert.equal(d.of('child-up').length, 0);
  });
});
