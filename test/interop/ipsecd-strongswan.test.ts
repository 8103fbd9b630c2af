import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { statSync } from 'node:fs';
import { waitFor } from '../helpers/netns.js';
import { tsharkRecords, ESP_DECRYPT_PREFS } from '../helpers/tshark.js';
import { A, B } from '../netns/ipsecd-lab.js';
import { SwanLab, OURS_ID, SWAN_ID } from './ipsecd-strongswan-lab.js';

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
    const client = S.L.lab.exec(S.L.a, ['iperf3', '-c', B.pod, '-p', '5201', '-t', '2', '--json'], { timeoutMs: 30_000 });
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
    const esp = tsharkRecords(pcap, { keylogDir: S.keylogDir(), prefs: ESP_DECRYPT_PREFS, filter: 'esp', fields: ['esp.spi', 'esp.icv_good', 'icmp.type'] });
    assert.ok(esp.length > 10, `ESP packets captured: ${esp.length}`);
    const good = esp.filter((r) => r['esp.icv_good'] === '1').length;
    assert.equal(good, esp.length, `every ESP packet's ICV checks with our keys (${good}/${esp.length})`);
    assert.ok(esp.some((r) => r['icmp.type'] === '8') && esp.some((r) => r['icmp.type'] === '0'), 'pings decrypted both ways');
  });
});
