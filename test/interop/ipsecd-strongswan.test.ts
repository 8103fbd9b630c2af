import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { statSync } from 'node:fs';
import { waitFor } from '../helpers/netns.js';
import { tsharkRecords, ESP_DECRYPT_PREFS } from '../helpers/tshark.js';
import { A, B } from '../netns/ipsecd-lab.js';
import { SwanLab, OURS_ID, SWAN_ID } from './ipsecd-strongswan-lab.js';
import { cliPath } from '../helpers/paths.js';

/**
 * `overlay-ipsec ipsecd` with an IKE connection (the built CLI, namespace a) against strongSwan
 * 5.9.8 charon with kernel-libipsec (namespace b), tunnel mode 10.1.0.0/24 ⇄ 10.2.0.0/24:
 * both roles, ECDSA and RSA certificates, DH 14/19/31, traffic, rekeys under traffic, DPD,
 * DELETE, tshark decryption from our --keylog. Evidence on our side is `ipsec status` over the
 * control socket and our log; on strongSwan's, `swanctl --list-sas` and charon's log.
 */
describe('ipsecd IKE against strongSwan 5.9.8', () => {
  let S: SwanLab;

  before(() => {
    S = new SwanLab('oit-ik');
  });
  after(async () => {
    await S.cleanup();
  });

  it('we initiate (ECDSA, ECP256): ping and an iperf3 TCP stream, status and log as pluto, tshark decrypts IKE and ESP from --keylog', async () => {
    const pcap = path.join(S.L.dir, 'we-init.pcap');
    await S.stopBoth();
    const cap = await S.L.capture(S.L.a, A.veth, pcap);
    await S.start({ cert: S.certs['ours-ecdsa']! }, S.swanConn(S.certs['swan-ecdsa']!));
    const { st, sw } = await S.waitUp('we initiate');
    assert.equal(sw.initiator, false, 'strongSwan is the responder');
    assert.equal(sw.remoteId, OURS_ID);
    assert.equal(sw.dhGroup, 'ECP_256');
    const ike = st.ike_sas.find((s) => s.state === 'ESTABLISHED')!;
    assert.equal(ike.remote_id, SWAN_ID);
    assert.equal(ike.local_id, OURS_ID);
    assert.equal(ike.spi_i, sw.initiatorSpi.replace(/^0x/, ''));
    assert.equal(ike.spi_r, sw.responderSpi.replace(/^0x/, ''));
    const child = ike.children[0]!;
    const swChild = sw.children.find((c) => c.state === 'INSTALLED')!;
    assert.equal(child.spi_in.replace(/^0x/, ''), swChild.spiOut);
    assert.equal(child.spi_out.replace(/^0x/, ''), swChild.spiIn);
    assert.deepEqual(child.local_ts, [A.podNet]);
    assert.deepEqual(child.remote_ts, [B.podNet]);

    const p = S.ping(5);
    assert.equal(p.received, 5, `ping through the tunnel: ${JSON.stringify(p)}`);
    const server = S.L.lab.spawn(S.L.b, ['iperf3', '-s', '-1', '-B', B.pod, '-p', '5201']);
    await waitFor(() => S.L.lab.exec(S.L.b, ['ss', '-Hltn', 'sport = :5201']).stdout.includes('5201'), 'iperf3 server', 10_000, 50);
    // A fixed volume, not a fixed time: the capture tshark decrypts below stays the same size
    // however fast the tunnel is (2 s at 400 Mbit/s made a 100 MB capture).
    const client = S.L.lab.exec(S.L.a, ['iperf3', '-c', B.pod, '-p', '5201', '-n', '8M', '--json'], { timeoutMs: 30_000 });
    await S.L.lab.stop(server);
    const iperf = JSON.parse(client.stdout) as { end: { sum_received: { bytes: number; bits_per_second: number } } };
    console.log(`iperf3 TCP through ipsecd ⇄ strongSwan: ${(iperf.end.sum_received.bits_per_second / 1e6).toFixed(1)} Mbit/s, ${iperf.end.sum_received.bytes} bytes`);
    assert.ok(iperf.end.sum_received.bytes > 100_000, 'TCP stream delivered');

    const after = (await S.status()).ike_sas.find((s) => s.state === 'ESTABLISHED')!.children[0]!;
    assert.ok(after.packets_out >= 5 && after.packets_in >= 5, `live counters: ${JSON.stringify(after)}`);
    assert.ok(after.bytes_out > 100_000);

    const log = S.ourLines().join('\n');
    assert.match(log, /"site" #\d+: established IKE SA; authenticated peer 'swan\.example'/);
    assert.match(log, /"site" #\d+: IPsec SA established tunnel mode \{ESPinUDP=>0x[0-9a-f]{8} <0x[0-9a-f]{8} xfrm=AES_GCM_16_256-NONE/);

    // key log files: mode 0600
    for (const f of ['esp_sa', 'ikev2_decryption_table']) assert.equal(statSync(path.join(S.keylogDir(), f)).mode & 0o777, 0o600, f);
    await S.L.stopCapture(cap, pcap);
    const ikeRows = tsharkRecords(pcap, { keylogDir: S.keylogDir(), filter: 'isakmp.exchangetype == 35', fields: ['isakmp.id.type', 'isakmp.auth.method', 'isakmp.ts.type'] });
    assert.equal(ikeRows.length, 2, 'IKE_AUTH request and response');
    for (const r of ikeRows) {
      assert.ok(r['isakmp.id.type']!.includes('2'), `IKE_AUTH decrypted (FQDN id): ${JSON.stringify(r)}`);
      assert.ok(r['isakmp.ts.type']!.includes('7'), 'TS payloads decrypted');
    }
    // TCP inside is not dissected: an exception in the TCP dissector (a retransmission it cannot
    // place) ends the packet's dissection before ESP adds its ICV verdict.
    const esp = tsharkRecords(pcap, { keylogDir: S.keylogDir(), prefs: ESP_DECRYPT_PREFS, disableProtocols: ['tcp'], filter: 'esp', fields: ['frame.number', 'frame.len', 'ip.src', 'esp.spi', 'esp.sequence', 'esp.icv_good', 'icmp.type'] });
    assert.ok(esp.length > 10, `ESP packets captured: ${esp.length}`);
    const bad = esp.filter((r) => r['esp.icv_good'] !== '1');
    const sample = bad.slice(0, 5).map((r) => `#${r['frame.number']} ${r['frame.len']} B from ${r['ip.src']} spi ${r['esp.spi']} seq ${r['esp.sequence']}`);
    assert.equal(bad.length, 0, `every ESP packet's ICV checks with our keys (${esp.length - bad.length}/${esp.length}); first bad: ${sample.join('; ')}`);
    assert.ok(esp.some((r) => r['icmp.type'] === '8') && esp.some((r) => r['icmp.type'] === '0'), 'pings decrypted both ways');
  });

  /** Our newest established IKE SA and its installed child, strongSwan's likewise. */
  async function both(): Promise<{ ours: { spiI: string; childIn: string }; swan: { spiI: string; childIn: string } }> {
    const st = await S.status();
    const ike = st.ike_sas.filter((x) => x.state === 'ESTABLISHED').at(-1);
    const sas = await S.swan!.listSas();
    const sw = sas.filter((x) => x.state === 'ESTABLISHED').at(-1);
    return {
      ours: { spiI: ike?.spi_i ?? '', childIn: ike?.children.filter((c) => c.state === 'INSTALLED').at(-1)?.spi_in.replace(/^0x/, '') ?? '' },
      swan: { spiI: sw?.initiatorSpi.replace(/^0x/, '') ?? '', childIn: sw?.children.filter((c) => c.state === 'INSTALLED').at(-1)?.spiIn ?? '' },
    };
  }

  it('strongSwan initiates (RSA certificates, MODP2048): ping through the tunnel; ipsec status text in the libreswan style', async () => {
    await S.start({ cert: S.certs['ours-rsa']!, startAction: 'none', proposals: ['aes256gcm16-prfsha256-modp2048'] },
      S.swanConn(S.certs['swan-rsa']!, { proposals: ['aes256gcm16-prfsha256-modp2048'] }));
    // Initiated once our daemon listens (start_action start in charon could fire before it is up).
    const init = await S.swan!.initiate('net', { ike: 'site' });
    assert.ok(init.ok, init.stdout + init.stderr);
    const { st, sw } = await S.waitUp('strongSwan initiates');
    assert.equal(sw.initiator, true);
    assert.equal(sw.dhGroup, 'MODP_2048');
    assert.match(st.ike_sas[0]!.proposal ?? '', /MODP_2048|MODP2048|modp2048/i);
    const p = S.ping(4);
    assert.equal(p.received, 4, JSON.stringify(p));
    const text = S.L.lab.exec(S.L.a, [process.execPath, cliPath, 'ipsec', 'status', '--control', S.daemon!.control]).stdout;
    assert.match(text, /^000 #\d+: "site":4500 STATE_V2_ESTABLISHED_IKE_SA \(established IKE SA\); EVENT_SA_REKEY in \d+s; newest ISAKMP;/m);
    assert.match(text, /^000 #\d+: "site\/net":4500 STATE_V2_ESTABLISHED_CHILD_SA \(IPsec SA established\); EVENT_SA_REKEY in \d+s;/m);
    assert.match(text, /^000 #\d+: "site\/net" esp\.[0-9a-f]+@198\.18\.0\.2 esp\.[0-9a-f]+@198\.18\.0\.1 Traffic: ESPin=\d+[KM]?B ESPout=\d+[KM]?B/m);
  });

  it('each key exchange group: DH 14, 19, 31 with ping', async () => {
    for (const dh of ['modp2048', 'ecp256', 'x25519']) {
      const prop = `aes256gcm16-prfsha256-${dh}`;
      await S.start({ cert: S.certs['ours-ecdsa']!, proposals: [prop] }, S.swanConn(S.certs['swan-rsa']!, { proposals: [prop] }));
      const { sw } = await S.waitUp(dh);
      assert.equal(sw.dhGroup, { modp2048: 'MODP_2048', ecp256: 'ECP_256', x25519: 'CURVE_25519' }[dh]);
      assert.equal(S.ping(2, 0.1).received, 2, dh);
    }
  });

  it('child and IKE rekeys from both sides while a ping runs; loss is at most a packet or two', async () => {
    await S.start({ cert: S.certs['ours-ecdsa']!, esp: ['aes256gcm16-ecp256'] }, S.swanConn(S.certs['swan-ecdsa']!));
    await S.waitUp('before rekeys');
    let out = '';
    const ping = S.L.lab.spawn(S.L.a, ['ping', '-n', '-q', '-i', '0.05', '-c', '240', '-W', '1', B.pod]);
    ping.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
    const done = new Promise<void>((r) => ping.on('exit', () => r()));
    const steps: [string, () => Promise<unknown>, 'child' | 'ike'][] = [
      ['our child rekey', () => S.control('rekey', 'net'), 'child'],
      ['strongSwan child rekey', () => S.swan!.rekey({ child: 'net' }), 'child'],
      ['our IKE rekey', () => S.control('rekey'), 'ike'],
      ['strongSwan IKE rekey', () => S.swan!.rekey({ ike: 'site' }), 'ike'],
    ];
    await new Promise((r) => setTimeout(r, 1000));
    for (const [what, run, kind] of steps) {
      const before = await both();
      await run();
      await waitFor(async () => {
        const now = await both();
        const key = kind === 'child' ? 'childIn' : 'spiI';
        return now.ours[key] !== before.ours[key] && now.swan[key] !== before.swan[key] && now.ours[key] !== '' && now.swan[key] !== ''
          && (kind === 'ike' || now.ours.childIn.length > 0);
      }, what, 15_000, 200);
      await new Promise((r) => setTimeout(r, 1500));
    }
    await done;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
    const sent = Number(m?.[1]);
    const lost = sent - Number(m?.[2]);
    console.log(`rekeys under ping: ${sent} sent, ${lost} lost`);
    assert.ok(sent >= 200 && lost <= 2, out);
    assert.equal(S.ping(2, 0.1).received, 2, 'traffic after all rekeys');
  });

  it('start_action trap: nothing until a packet matches the policy, then the SA comes up and carries traffic', async () => {
    await S.start({ cert: S.certs['ours-ecdsa']!, startAction: 'trap' }, S.swanConn(S.certs['swan-ecdsa']!));
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await S.status()).ike_sas.length, 0, 'trap does not initiate at start');
    assert.equal((await S.swan!.listSas()).length, 0);
    S.ping(1, 0.1);
    await S.waitUp('after the trapped packet');
    assert.ok(S.ourLines().some((l) => /initiating on a packet matching a trap policy/.test(l)));
    assert.equal(S.ping(3, 0.1).received, 3);
  });

  it('DPD notices a killed strongSwan: our status drops the SA', async () => {
    await S.start({ cert: S.certs['ours-ecdsa']!, dpd: '2s' }, S.swanConn(S.certs['swan-ecdsa']!));
    await S.waitUp('before DPD');
    const t0 = Date.now();
    S.swan!.kill();
    await waitFor(async () => (await S.status()).ike_sas.length === 0, 'our SA dropped after DPD', 30_000, 200);
    const secs = (Date.now() - t0) / 1000;
    console.log(`DPD: SA dropped ${secs.toFixed(1)} s after charon was killed (dpd_delay 2s, retransmit 1s×1.5, 2 tries)`);
    const st = await S.status();
    assert.equal(st.ike_sas.length, 0);
    await S.swan!.stop();
    S.swan = undefined;
  });

  it('terminate sends DELETE: no SA left on either side', async () => {
    await S.start({ cert: S.certs['ours-ecdsa']! }, S.swanConn(S.certs['swan-ecdsa']!));
    await S.waitUp('before terminate');
    await S.control('terminate');
    await waitFor(async () => (await S.status()).ike_sas.length === 0 && (await S.swan!.listSas()).length === 0, 'both sides empty after DELETE', 10_000, 200);
    assert.match(S.swan!.log(), /received DELETE for IKE_SA site/);
    assert.equal(S.ping(1, 0.1).received, 0, 'no tunnel, no traffic (and nothing in clear)');
  });

  describe('refusals: the right notify on both sides and no SA left', () => {
    const cases: { name: string; ours: () => Parameters<SwanLab['start']>[0]; swan: () => Parameters<SwanLab['start']>[1]; oursLog: RegExp; swanLog: RegExp }[] = [
      { name: 'our certificate from another CA', ours: () => ({ cert: S.certs['ours-foreign']! }), swan: () => S.swanConn(S.certs['swan-ecdsa']!),
        oursLog: /received AUTHENTICATION_FAILED/, swanLog: /N\(AUTH_FAILED\)/ },
      { name: "strongSwan's certificate expired", ours: () => ({ cert: S.certs['ours-ecdsa']! }), swan: () => S.swanConn(S.certs['swan-expired']!),
        oursLog: /authentication of peer .* failed: .*(expired|valid)/i, swanLog: /AUTHENTICATION_FAILED|AUTH_FAILED/ },
      { name: 'a wrong remote id', ours: () => ({ cert: S.certs['ours-ecdsa']!, remoteId: 'other.example' }), swan: () => S.swanConn(S.certs['swan-ecdsa']!),
        oursLog: /AUTHENTICATION_FAILED|authentication of peer .* failed/, swanLog: /AUTHENTICATION_FAILED|AUTH_FAILED/ },
      { name: 'proposals with nothing in common', ours: () => ({ cert: S.certs['ours-ecdsa']!, proposals: ['aes128gcm16-prfsha512-modp2048'] }), swan: () => S.swanConn(S.certs['swan-ecdsa']!, { proposals: ['aes256gcm16-prfsha256-ecp256'] }),
        oursLog: /IKE_SA_INIT failed: received NO_PROPOSAL_CHOSEN/, swanLog: /N\(NO_PROP\)/ },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        await S.start(c.ours(), c.swan());
        await waitFor(() => c.oursLog.test(S.ourLines().join('\n')), `our log shows ${c.oursLog}:\n${S.ourLines().join('\n')}`, 15_000, 200);
        await waitFor(() => c.swanLog.test(S.swan!.log()), `strongSwan's log shows ${c.swanLog}`, 10_000, 200);
        await waitFor(async () => (await S.status()).ike_sas.length === 0 && (await S.swan!.listSas()).length === 0, 'no SA on either side', 10_000, 200);
      });
    }
  });

  it('our daemon to our daemon, transport mode (PSK), carries UDP 6081 both ways through IKE-negotiated ESP', async () => {
    await S.stopBoth();
    const conn = (self: 'a' | 'b'): string => {
      const [me, peer] = self === 'a' ? [A, B] : [B, A];
      return `  geneve:
    local_addrs: [${me.underlay}]
    remote_addrs: [${peer.underlay}]
    local: { auth: psk, id: ${self}.example }
    remote: { auth: psk, id: ${self === 'a' ? 'b' : 'a'}.example }
    psk: "0sb3ZlcmxheS1pcHNlYy10cmFuc3BvcnQtdGVzdA=="
    proposals: [aes256gcm16-prfsha256-modp2048]
    children:
      udp:
        mode: transport
        local_ts: ["dynamic[udp/6081]"]
        remote_ts: ["dynamic[udp/6081]"]
        esp_proposals: [aes256gcm16-modp2048]
        start_action: ${self === 'a' ? 'start' : 'none'}
`;
    };
    const db = await S.L.startDaemon('b', S.L.writeConfig('b', conn('b')));
    const da = await S.L.startDaemon('a', S.L.writeConfig('a', conn('a')));
    try {
      await waitFor(async () => {
        const [sa, sb] = [await S.L.status(da), await S.L.status(db)];
        return [sa, sb].every((st) => st.ike_sas.some((x) => x.state === 'ESTABLISHED' && x.children.some((c) => c.state === 'INSTALLED')));
      }, 'transport SAs on both daemons', 15_000, 200);
      const pcap = path.join(S.L.dir, 'transport.pcap');
      const cap = await S.L.capture(S.L.a, A.veth, pcap);
      // Each side binds 6081 and sends three datagrams to the other's 6081; each prints what it got.
      const py = (me: string, peer: string, tag: string): string[] => ['/usr/bin/python3', '-c', `
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('${me}', 6081)); s.settimeout(0.3)
got = set()
end = time.time() + 8
i = 0
while time.time() < end and len(got) < 3:
    s.sendto(b'${tag}%d' % (i % 3), ('${peer}', 6081)); i += 1
    try:
        d, _ = s.recvfrom(2000); got.add(d.decode())
    except socket.timeout:
        pass
for _ in range(3):
    s.sendto(b'${tag}%d' % _, ('${peer}', 6081)); time.sleep(0.05)
print(' '.join(sorted(got)))
`];
      const pb = S.L.lab.spawn(S.L.b, py(B.underlay, A.underlay, 'from-b-'));
      let outB = '';
      pb.stdout?.on('data', (d: Buffer) => { outB += d.toString(); });
      const doneB = new Promise<void>((r) => pb.on('exit', () => r()));
      const outA = S.L.lab.exec(S.L.a, py(A.underlay, B.underlay, 'from-a-'), { timeoutMs: 20_000 }).stdout.trim();
      await doneB;
      assert.equal(outA, 'from-b-0 from-b-1 from-b-2', 'a received b\'s datagrams');
      assert.equal(outB.trim(), 'from-a-0 from-a-1 from-a-2', 'b received a\'s datagrams');
      await S.L.stopCapture(cap, pcap);
      // An ICMP error may quote a UDP 6081 header (ICMP is outside the udp/6081 selectors); a datagram may not.
      const clear = tsharkRecords(pcap, { filter: 'udp.port == 6081 && !icmp', fields: ['frame.number', 'frame.protocols'] });
      assert.equal(clear.length, 0, `no UDP 6081 in clear on the wire: ${JSON.stringify(clear)}`);
      const esp = tsharkRecords(pcap, { keylogDir: da.keylog, prefs: ESP_DECRYPT_PREFS, filter: 'esp', fields: ['esp.icv_good', 'udp.dstport'],
        // The test's datagrams are text, not Geneve: dissect them as data so the ESP trailer is reached.
        decodeAs: ['udp.port==6081,data'] });
      assert.ok(esp.length >= 6, `ESP packets: ${esp.length}`);
      assert.ok(esp.every((r) => r['esp.icv_good'] === '1'), `ICV good with our key log: ${JSON.stringify(esp)}`);
      assert.ok(esp.every((r) => r['udp.dstport']!.split(',').includes('6081')), 'the inner datagrams are UDP 6081 (transport mode)');
      const st = await S.L.status(da);
      const child = st.ike_sas.find((x) => x.state === 'ESTABLISHED')!.children.find((c) => c.state === 'INSTALLED')!;
      assert.equal(child.mode, 'transport');
      assert.ok(child.packets_in >= 3 && child.packets_out >= 3, JSON.stringify(child));
    } finally {
      await S.L.lab.stop(da.proc);
      await S.L.lab.stop(db.proc);
    }
  });
});
