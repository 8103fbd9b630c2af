import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { NetnsLab, sh } from '../helpers/netns.js';
import { TestPki, type CertFiles } from '../helpers/certs.js';
import { StrongSwan, type SwanConnection, type SwanIkeSa } from '../helpers/strongswan.js';
import {
  AUTH_DIGITAL_SIGNATURE, AUTH_ECDSA_256, AUTH_RSA_SIG, createAuthProvider, parseIdString, pemToDerList, pskAuth,
  splitDigitalSignature,
} from '../../src/ike/auth/index.js';
import { createHmac } from 'node:crypto';
import path from 'node:path';
import { pidAlive } from '../../src/util/pid.js';

/**
 * Validates the strongSwan harness itself: two charons (kernel-libipsec) in two namespaces, the
 * reference swlab.sh scenario — certificates, a tunnel, ping through it — plus the operations the
 * IKE interop tests rely on (list, rekey, terminate) and a PSK connection on port 4500.
 */
const IP_A = '10.251.0.1';
const IP_B = '10.251.0.2';

function conn(me: 'a' | 'b', certs: Record<'a' | 'b', CertFiles>, ca: CertFiles): SwanConnection {
  const other = me === 'a' ? 'b' : 'a';
  return {
    name: 'h2h',
    localAddrs: [me === 'a' ? IP_A : IP_B],
    remoteAddrs: [me === 'a' ? IP_B : IP_A],
    local: { auth: 'pubkey', id: `node${me}.lab`, certPem: certs[me].certPem, keyPem: certs[me].keyPem },
    remote: { auth: 'pubkey', id: `node${other}.lab` },
    caPems: [ca.certPem],
    children: [{ name: 'h2h' }],
  };
}

/** tcpdump on `dev` inside `ns` into `file`; stop() ends it (by PID) once everything is written. */
async function capture(lab: NetnsLab, ns: string, dev: string, file: string): Promise<{ file: string; stop: () => Promise<void> }> {
  const p = lab.spawn(ns, ['tcpdump', '-i', dev, '--immediate-mode', '-U', '-w', file, 'udp']);
  await new Promise<void>((resolve, reject) => {
    p.stderr!.on('data', (d: Buffer) => { if (d.toString().includes('listening on')) resolve(); });
    p.on('exit', (code) => reject(new Error(`tcpdump exited (${code})`)));
  });
  return { file, stop: () => lab.stop(p) };
}

function ping(lab: NetnsLab, ns: string, to: string): boolean {
  return lab.exec(ns, ['ping', '-c', '3', '-i', '0.2', '-W', '1', to], { check: false }).code === 0;
}

function established(sas: SwanIkeSa[], name: string): SwanIkeSa | undefined {
  return sas.find((s) => s.name === name && s.state === 'ESTABLISHED' && s.children.some((c) => c.state === 'INSTALLED'));
}

describe('strongSwan harness (two charons, kernel-libipsec)', () => {
  let lab: NetnsLab;
  let pki: TestPki;
  let nsA: string;
  let nsB: string;
  let a: StrongSwan | undefined;
  let b: StrongSwan | undefined;
  let ca: CertFiles;
  let certs: Record<'a' | 'b', CertFiles>;

  before(() => {
    lab = new NetnsLab('oit-sw');
    nsA = lab.addNs('a');
    nsB = lab.addNs('b');
    lab.veth(nsA, 'va', `${IP_A}/24`, nsB, 'vb', `${IP_B}/24`);
    for (const ns of [nsA, nsB]) {
      // loose reverse-path filtering, as strongSwan's own libipsec tests use
      lab.exec(ns, ['sh', '-c', 'for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 2 > $f; done']);
    }
    pki = new TestPki('oit-sw-pki');
    ca = pki.createCa('ca', { dn: 'C=XX, O=Lab, CN=Lab Root CA', tool: 'pki' });
    certs = {
      a: pki.issue(ca, 'a', { dn: 'C=XX, O=Lab, CN=nodea.lab', tool: 'pki', sans: ['nodea.lab', IP_A] }),
      b: pki.issue(ca, 'b', { dn: 'C=XX, O=Lab, CN=nodeb.lab', tool: 'pki', sans: ['nodeb.lab', IP_B] }),
    };
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await lab.cleanup();
    pki.cleanup();
  });

  it('starts two charons, tunnels a ping, and lists matching SAs on both sides', async () => {
    const t0 = Date.now();
    [a, b] = await Promise.all([
      StrongSwan.start({ lab, ns: nsA, name: 'a', connections: [conn('a', certs, ca)] }),
      StrongSwan.start({ lab, ns: nsB, name: 'b', connections: [conn('b', certs, ca)] }),
    ]);
    const cap = await capture(lab, nsA, 'va', path.join(a.dir, 'h2h.pcap'));
    const init = await a.initiate('h2h');
    assert.ok(init.ok, `initiate failed:\n${init.stdout}`);
    assert.ok(ping(lab, nsA, IP_B), 'ping through the tunnel');
    await cap.stop();
    const sasA = await a.listSas();
    const sasB = await b.waitForSas((s) => !!established(s, 'h2h'), 'established on B');
    const ikeA = established(sasA, 'h2h')!;
    const ikeB = established(sasB, 'h2h')!;
    assert.ok(ikeA && ikeB);
    assert.equal(ikeA.initiator, true);
    assert.equal(ikeB.initiator, false);
    assert.equal(ikeA.initiatorSpi, ikeB.initiatorSpi);
    assert.equal(ikeA.responderSpi, ikeB.responderSpi);
    assert.equal(ikeA.localPort, 4500, 'floated to 4500 (strongSwan fakes NAT with libipsec)');
    assert.equal(ikeA.encrAlg, 'AES_GCM_16');
    assert.equal(ikeA.encrKeysize, 256);
    assert.equal(ikeA.remoteId, 'nodeb.lab');
    const chA = ikeA.children[0]!;
    const chB = ikeB.children[0]!;
    assert.equal(chA.mode, 'TUNNEL');
    assert.equal(chA.encap, true);
    assert.equal(chA.spiIn, chB.spiOut);
    assert.equal(chA.spiOut, chB.spiIn);
    assert.match(chA.spiIn, /^[0-9a-f]{8}$/);
    assert.ok(chA.packetsOut >= 3 && chA.bytesOut > 0, `ESP packets counted (${chA.packetsOut} out)`);
    assert.ok(chB.packetsIn >= 3, `B decrypted ${chB.packetsIn} packets`);
    assert.deepEqual(chA.localTs, [`${IP_A}/32`]);
    // ike=4/chd=4 logs the keys: both sides derived the same ones, and tshark decrypts the
    // captured ESP with them (ICV checked) — so ikeKeys()/childKeys() map keys to SPIs correctly.
    const ikA = a.ikeKeys().at(-1)!;
    const ikB = b.ikeKeys().at(-1)!;
    assert.equal(ikA.skEi.length, 36);
    assert.deepEqual(ikA, ikB);
    const ckA = a.childKeys().at(-1)!;
    const ckB = b.childKeys().at(-1)!;
    assert.equal(ckA.spiOut, chA.spiOut);
    assert.equal(ckA.spiIn, chA.spiIn);
    assert.deepEqual([ckA.encrI, ckA.encrR], [ckB.encrI, ckB.encrR]);
    const espRow = (spi: string, key: Buffer): string =>
      `"IPv4","*","*","0x${spi}","AES-GCM with 16 octet ICV [RFC4106]","0x${key.toString('hex')}","NULL",""`;
    const good = sh(['tshark', '-r', cap.file, '-o', 'esp.enable_encryption_decode:TRUE', '-o', 'esp.enable_authentication_check:TRUE',
      '-o', `uat:esp_sa:${espRow(ckA.spiOut, ckA.encrI)}`, '-o', `uat:esp_sa:${espRow(ckA.spiIn, ckA.encrR)}`,
      '-Y', 'esp.icv_good == 1 && icmp', '-T', 'fields', '-e', 'icmp.type']).stdout.trim().split('\n').filter(Boolean);
    assert.ok(good.filter((t) => t === '8').length >= 3 && good.filter((t) => t === '0').length >= 3, `tshark decrypted ${good.length} ICMP packets`);
    console.log(`  up + initiate + ping in ${Date.now() - t0} ms`);
  });

  it('rekeys the CHILD_SA and the IKE_SA, traffic still flows', async () => {
    assert.ok(a && b);
    const before = established(await a.listSas(), 'h2h')!;
    const oldSpi = before.children[0]!.spiIn;
    assert.ok((await a.rekey({ child: 'h2h' })).ok);
    // strongSwan keeps the rekeyed SA listed as DELETED for a few seconds: look for the new one.
    const after = await a.waitForSas((s) => !!established(s, 'h2h')?.children.some((c) => c.state === 'INSTALLED' && c.spiIn !== oldSpi), 'child rekeyed');
    assert.equal(established(after, 'h2h')!.children.filter((c) => c.state === 'INSTALLED').length, 1);
    assert.ok((await b.rekey({ ike: 'h2h' })).ok);
    await a.waitForSas((s) => { const e = established(s, 'h2h'); return !!e && e.initiatorSpi !== before.initiatorSpi; }, 'IKE rekeyed');
    assert.ok(ping(lab, nsA, IP_B), 'ping after rekeys');
  });

  it('terminates: both sides drop all SAs', async () => {
    assert.ok(a && b);
    const t = await a.terminate({ ike: 'h2h' });
    assert.ok(t.ok, t.stdout);
    assert.deepEqual(await a.listSas(), []);
    await b.waitForSas((s) => s.length === 0, 'B without SAs');
  });

  it('PSK on port 4500 directly, and stop() removes process and files', async () => {
    assert.ok(a && b);
    await a.stop();
    await b.stop();
    const dirs = [a.dir, b.dir];
    const pids = [a.pid, b.pid];
    a = undefined;
    b = undefined;
    for (const d of dirs) assert.equal(existsSync(d), false, `${d} removed`);
    for (const pid of pids) assert.equal(pidAlive(pid), false, 'charon gone');
    const psk = (me: 'a' | 'b'): SwanConnection => ({
      name: 'p',
      localAddrs: [me === 'a' ? IP_A : IP_B],
      remoteAddrs: [me === 'a' ? IP_B : IP_A],
      localPort: 4500,
      remotePort: 4500,
      proposals: ['aes128gcm16-prfsha384-ecp256'],
      local: { auth: 'psk', id: `psk-${me}` },
      remote: { auth: 'psk', id: `psk-${me === 'a' ? 'b' : 'a'}` },
      psk: 'harness-psk-0123456789',
      children: [{ name: 'p', espProposals: ['aes128gcm16'] }],
    });
    [a, b] = await Promise.all([
      StrongSwan.start({ lab, ns: nsA, name: 'a2', connections: [psk('a')] }),
      StrongSwan.start({ lab, ns: nsB, name: 'b2', connections: [psk('b')] }),
    ]);
    const r = await b.initiate('p');
    assert.ok(r.ok, r.stdout);
    const ike = established(await b.listSas(), 'p')!;
    assert.equal(ike.localPort, 4500);
    assert.equal(ike.encrKeysize, 128);
    assert.equal(ike.prfAlg, 'PRF_HMAC_SHA2_384');
    assert.equal(ike.dhGroup, 'ECP_256');
    assert.ok(ping(lab, nsB, IP_A));
    // The level-4 log dumps carry what an independent check of our AUTH code needs: for every
    // PSK AUTH charon computed (its own and the peer's), the signed octets and the result.
    const dumps = b.logDumps();
    const pairs = dumps.flatMap((d, i) => {
      if (d.label !== 'AUTH = prf(prf(secret, keypad), octets)') return [];
      const octets = dumps.slice(0, i).reverse().find((o) => o.thread === d.thread && o.label.startsWith('octets = message + nonce'));
      return octets ? [{ octets: octets.data, auth: d.data }] : [];
    });
    assert.equal(pairs.length, 2, 'one AUTH built, one verified');
    const prf384 = (k: Buffer, m: Buffer): Buffer => createHmac('sha384', k).update(m).digest();
    for (const { octets, auth } of pairs) {
      assert.equal(auth.length, 48);
      assert.deepEqual(pskAuth(prf384, Buffer.from('harness-psk-0123456789'), octets), auth, 'our PSK AUTH equals charon\'s');
    }
    // nothing of ours is left in the namespaces' process lists except the two charons
    const pidsA = sh(['ip', 'netns', 'pids', nsA]).stdout.trim().split('\n').filter(Boolean);
    assert.deepEqual(pidsA, [String(a.pid)]);
  });
});

/**
 * strongSwan's real AUTH payloads, decrypted and decoded by tshark with the keys charon logs,
 * must verify with our provider over the signed octets charon logs: RFC 7427 ECDSA, RSA PKCS#1
 * and RSASSA-PSS, and classic methods 1 and 9. (That strongSwan accepts ours is for the IKE
 * daemon's interop tests.)
 */
describe('strongSwan AUTH payloads verify with ike/auth (tshark decrypts IKE_AUTH)', () => {
  let lab: NetnsLab;
  let pki: TestPki;
  let nsA: string;
  let nsB: string;
  let ca: CertFiles;
  const certs: Record<string, CertFiles> = {};
  const OCTETS = "octets = message + nonce + prf(Sk_px, IDx')";

  before(() => {
    lab = new NetnsLab('oit-sw');
    nsA = lab.addNs('aa');
    nsB = lab.addNs('ab');
    lab.veth(nsA, 'vaa', `${IP_A}/24`, nsB, 'vab', `${IP_B}/24`);
    pki = new TestPki('oit-sw-pki');
    ca = pki.createCa('ca', { dn: 'C=XX, O=Lab, CN=Auth CA', tool: 'openssl' });
    for (const side of ['a', 'b']) {
      certs[`ec-${side}`] = pki.issue(ca, `ec-${side}`, { dn: `C=XX, O=Lab, CN=ec-${side}.lab`, sans: [`ec-${side}.lab`] });
      certs[`rsa-${side}`] = pki.issue(ca, `rsa-${side}`, { dn: `C=XX, O=Lab, CN=rsa-${side}.lab`, keyType: 'rsa', sans: [`rsa-${side}.lab`, `pss-${side}.lab`] });
    }
  });
  after(async () => {
    await lab.cleanup();
    pki.cleanup();
  });

  /** Connections from `me`'s side: ec (ECDSA), rsa (RSA PKCS#1), pss (RSA with RSASSA-PSS). */
  function conns(me: 'a' | 'b', withPss: boolean): SwanConnection[] {
    const peer = me === 'a' ? 'b' : 'a';
    // Distinct ids per connection (the responder picks its config by them); pss-* are SANs of the RSA certificates.
    const mk = (name: string, key: 'ec' | 'rsa', auth: SwanConnection['local']['auth']): SwanConnection => ({
      name,
      localAddrs: [me === 'a' ? IP_A : IP_B],
      remoteAddrs: [me === 'a' ? IP_B : IP_A],
      local: { auth, id: `${name}-${me}.lab`, certPem: certs[`${key}-${me}`]!.certPem, keyPem: certs[`${key}-${me}`]!.keyPem },
      remote: { auth: 'pubkey', id: `${name}-${peer}.lab` },
      caPems: [ca.certPem],
      children: [{ name: `${name}-child` }],
    });
    return [mk('ec', 'ec', 'pubkey'), mk('rsa', 'rsa', 'pubkey'), ...(withPss ? [mk('pss', 'rsa', 'rsa/pss-sha256')] : [])];
  }

  async function run(signatureAuthentication: boolean, names: string[]): Promise<Array<{ id: string; method: number; data: Buffer }>> {
    const [a, b] = await Promise.all([
      StrongSwan.start({ lab, ns: nsA, name: 'auth-a', connections: conns('a', signatureAuthentication), signatureAuthentication }),
      StrongSwan.start({ lab, ns: nsB, name: 'auth-b', connections: conns('b', signatureAuthentication), signatureAuthentication }),
    ]);
    const pcap = path.join(a.dir, 'ike.pcap');
    const cap = await capture(lab, nsA, 'vaa', pcap);
    try {
      const rows: string[] = [];
      for (const name of names) {
        const r = await a.initiate(`${name}-child`, { ike: name });
        assert.ok(r.ok, `${name}: ${r.stdout}`);
        const ike = (await a.listSas()).find((s) => s.name === name)!;
        const keys = a.ikeKeys().at(-1)!;
        rows.push(`${ike.initiatorSpi},${ike.responderSpi},${keys.skEi.toString('hex')},${keys.skEr.toString('hex')},"AES-GCM-256 with 16 octet ICV [RFC5282]",,,"NONE [RFC4306]"`);
      }
      await cap.stop();
      const octets = [...a.logDumps(OCTETS), ...b.logDumps(OCTETS)].map((d) => d.data);
      const out = sh(['tshark', '-r', pcap, ...rows.flatMap((r) => ['-o', `uat:ikev2_decryption_table:${r}`]),
        '-Y', 'isakmp.auth.method', '-T', 'fields', '-E', 'separator=|', '-e', 'isakmp.id.data.fqdn', '-e', 'isakmp.auth.method', '-e', 'isakmp.auth.data']).stdout;
      const auths = out.trim().split('\n').filter(Boolean).map((l) => {
        const [ids, method, data] = l.split('|');
        return { id: ids!.split(',')[0]!, method: Number(method), data: Buffer.from(data!.replace(/:/g, ''), 'hex'), octets };
      });
      // Verify each with a provider configured as the receiving side would be.
      for (const auth of auths) {
        const key = auth.id.replace(/\.lab$/, '').replace(/^pss-/, 'rsa-');
        const peerCert = certs[key]!;
        const provider = createAuthProvider({
          v: { local: { auth: 'psk', id: 'verifier' }, remote: { auth: 'pubkey', id: auth.id }, caPems: [ca.certPem], psk: Buffer.from('unused-local-secret') },
        }, () => new Date());
        const certDer = pemToDerList(peerCert.certPem);
        const prfUnused = (k: Buffer, m: Buffer): Buffer => createHmac('sha256', k).update(m).digest();
        // The signer logs the octets it signs and the verifier those it checks: the same bytes.
        const ok = new Set(octets.filter((o) => provider.verify('v', auth.method, auth.data, o, certDer, parseIdString(auth.id)!, prfUnused, Buffer.alloc(0)).ok).map((o) => o.toString('hex')));
        assert.equal(ok.size, 1, `${auth.id}'s AUTH (method ${auth.method}) verifies over exactly one of charon's signed octets`);
      }
      return auths;
    } finally {
      await cap.stop();
      await a.stop();
      await b.stop();
    }
  }

  it('RFC 7427 (method 14): ECDSA, RSA PKCS#1 v1.5 and RSASSA-PSS', async () => {
    const auths = await run(true, ['ec', 'rsa', 'pss']);
    assert.equal(auths.length, 6);
    assert.ok(auths.every((x) => x.method === AUTH_DIGITAL_SIGNATURE));
    const kinds = auths.map((x) => `${x.id}:${splitDigitalSignature(x.data).alg.kind}`).sort();
    assert.deepEqual(kinds, ['ec-a.lab:ecdsa', 'ec-b.lab:ecdsa', 'pss-a.lab:rsa-pss', 'pss-b.lab:rsa-pss', 'rsa-a.lab:rsa-pkcs1', 'rsa-b.lab:rsa-pkcs1']);
  });

  it('classic (signature_authentication = no): ECDSA method 9 and RSA method 1', async () => {
    const auths = await run(false, ['ec', 'rsa']);
    assert.equal(auths.length, 4);
    for (const x of auths) assert.equal(x.method, x.id.startsWith('ec') ? AUTH_ECDSA_256 : AUTH_RSA_SIG, x.id);
  });
});
