import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { tsharkRecords } from '../helpers/tshark.js';
import { ikev2DecryptionTable } from '../../src/ike/keylog.js';
import { ikeDatagramOf } from '../../src/wire/udp-encap.js';
import { conn, pskAuth, Sim, type Packet } from '../unit/ike-sim.js';

/**
 * tshark as an independent decoder of our IKE messages: the exchange between two engines (in
 * memory) is written to a pcap; with our ikev2_decryption_table tshark must parse IKE_SA_INIT,
 * decrypt IKE_AUTH / CREATE_CHILD_SA / INFORMATIONAL (AES-GCM, RFC 5282) and see the payloads inside.
 */
function ipv4(a: string): Buffer {
  return Buffer.from(a.split('.').map(Number));
}

function pcap(packets: Packet[]): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16);
  head.writeUInt32LE(101, 20); // LINKTYPE_RAW: IPv4 without link layer
  const recs = packets.map((p, i) => {
    // What the socket sends: on 4500 the non-ESP marker precedes the engine's IKE message.
    const payload = ikeDatagramOf(p.bytes, p.from.port);
    const udp = Buffer.alloc(8);
    udp.writeUInt16BE(p.from.port, 0);
    udp.writeUInt16BE(p.to.port, 2);
    udp.writeUInt16BE(8 + payload.length, 4);
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + 8 + payload.length, 2);
    ip[8] = 64;
    ip[9] = 17;
    ipv4(p.from.address).copy(ip, 12);
    ipv4(p.to.address).copy(ip, 16);
    let sum = 0;
    for (let k = 0; k < 20; k += 2) sum += ip.readUInt16BE(k);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    ip.writeUInt16BE(~sum & 0xffff, 10);
    const data = Buffer.concat([ip, udp, payload]);
    const rh = Buffer.alloc(16);
    rh.writeUInt32LE(1_700_000_000 + i, 0);
    rh.writeUInt32LE(data.length, 8);
    rh.writeUInt32LE(data.length, 12);
    return Buffer.concat([rh, data]);
  });
  return Buffer.concat([head, ...recs]);
}

test('tshark parses our IKE_SA_INIT and decrypts IKE_AUTH, CREATE_CHILD_SA and INFORMATIONAL from our key log', () => {
  const A = '192.0.2.1';
  const B = '192.0.2.2';
  const sim = new Sim();
  const a = sim.add('a', A, [conn('site', A, B, {}, { espProposals: ['aes256gcm16-modp2048'] })], pskAuth('secret', 'a.example', 'b.example'));
  const b = sim.add('b', B, [conn('site', B, A, {}, { localTs: ['10.2.0.0/24'], remoteTs: ['10.1.0.0/24'], espProposals: ['aes256gcm16-modp2048'] })], pskAuth('secret', 'b.example', 'a.example'));
  a.engine.initiate('site');
  sim.advance(1000);
  b.engine.rekeyChild('site');
  sim.advance(1000);
  a.engine.terminate('site');
  sim.advance(1000);
  const dir = mkdtempSync(path.join(tmpdir(), 'oit-ike-tshark-'));
  try {
    writeFileSync(path.join(dir, 'ike.pcap'), pcap(sim.delivered));
    writeFileSync(path.join(dir, 'ikev2_decryption_table'), ikev2DecryptionTable([a.ikeUps()[0]!.keys]));
    const rows = tsharkRecords(path.join(dir, 'ike.pcap'), {
      keylogDir: dir,
      filter: 'isakmp',
      fields: ['isakmp.exchangetype', 'isakmp.flags', 'isakmp.messageid', 'isakmp.nextpayload', 'isakmp.id.type', 'isakmp.auth.method', 'isakmp.notify.msgtype', 'isakmp.ts.type', 'isakmp.delete.protoid', 'isakmp.key_exchange.dh_group', '_ws.expert.message'],
    });
    assert.equal(rows.length, sim.delivered.length);
    const byEx = (n: number) => rows.filter((r) => r['isakmp.exchangetype'] === String(n));
    assert.equal(byEx(34).length, 2, 'IKE_SA_INIT request and response');
    const auth = byEx(35);
    assert.equal(auth.length, 2);
    for (const r of auth) {
      assert.ok(r['isakmp.id.type']!.includes('2'), `decrypted ID payload (FQDN): ${JSON.stringify(r)}`);
      assert.ok(r['isakmp.auth.method']!.includes('2'), 'decrypted AUTH payload (shared key MIC)');
      assert.ok(r['isakmp.ts.type']!.includes('7'), 'decrypted TS payloads');
    }
    const ccs = byEx(36);
    assert.equal(ccs.length, 2);
    assert.ok(ccs[0]!['isakmp.notify.msgtype']!.includes(String(16393)), 'REKEY_SA notify seen inside the decrypted request');
    for (const r of ccs) assert.equal(r['isakmp.key_exchange.dh_group'], '14', 'PFS KE payload (MODP2048) decrypted');
    const info = byEx(37);
    assert.ok(info.length >= 4, JSON.stringify(rows.map((r) => r['isakmp.exchangetype'])));
    assert.ok(info.some((r) => r['isakmp.delete.protoid']!.includes('1')), 'Delete IKE payload decrypted');
    for (const r of rows) assert.doesNotMatch(r['_ws.expert.message'] ?? '', /malformed|ICV|failed/i);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
