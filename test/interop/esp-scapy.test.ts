// Two independent ESP implementations must agree: scapy (Debian python3-scapy, its own
// AES-GCM ESP code) seals packets with keys we choose and our inbound SA opens them; our
// outbound SA's packets are opened by scapy. Both modes, AES-256-GCM and AES-128-GCM.
// A third decoder, tshark, checks our packets' ICV, padding and next header from a capture.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LINKTYPE_RAW, PcapBufferWriter } from '../../src/wire/pcap.js';
import { espPaddingLength } from '../../src/wire/esp.js';
import { checksumVerifies } from '../../src/wire/checksum.js';
import { writeIpv4Header } from '../../src/wire/ipv4.js';
import { parseIpv4 } from '../../src/wire/address.js';
import type { EspMode } from '../../src/esp/types.js';
import { ADDR_A, ADDR_B, lab, newKeys, udpPacket } from '../unit/esp-datapath-helpers.js';

const PYTHON = '/usr/bin/python3';

// Runs scapy's SecurityAssociation (crypt_algo 'AES-GCM', crypt_key = key ‖ salt, auth 'NULL'):
// seals `seal` (whole IPv4 packets) with sequence numbers from `first_seq`, opens `open` (ESP
// packets from the SPI on) and reports what it found.
const SCAPY = String.raw`
import sys, json
from scapy.layers.ipsec import SecurityAssociation, ESP
from scapy.layers.inet import IP
from scapy.packet import Raw
req = json.load(sys.stdin)
key = bytes.fromhex(req['key'])
tunnel = req['mode'] == 'tunnel'
sa = SecurityAssociation(ESP, spi=req['spi'], crypt_algo='AES-GCM', crypt_key=key, auth_algo='NULL', auth_key=None,
                         tunnel_header=IP(src=req['outer_src'], dst=req['outer_dst']) if tunnel else None)
sealed = []
for i, h in enumerate(req['seal']):
    e = sa.encrypt(IP(bytes.fromhex(h)), seq_num=req['first_seq'] + i)
    sealed.append(bytes(e[ESP]).hex())
opened = []
for h in req['open']:
    outer = IP(bytes(IP(src=req['outer_src'], dst=req['outer_dst'], proto=50) / Raw(bytes.fromhex(h))))
    try:
        d = sa.decrypt(outer)
        opened.append({'ok': True, 'proto': d.proto, 'src': d.src, 'dst': d.dst, 'packet': bytes(d).hex()})
    except Exception as ex:
        opened.append({'ok': False, 'error': type(ex).__name__ + ': ' + str(ex)})
print(json.dumps({'sealed': sealed, 'opened': opened}))
`;

interface ScapyResult {
  sealed: string[];
  opened: Array<{ ok: true; proto: number; src: string; dst: string; packet: string } | { ok: false; error: string }>;
}

function scapy(req: { mode: EspMode; spi: number; key: Buffer; seal: Buffer[]; open: Buffer[]; firstSeq?: number }): ScapyResult {
  const input = JSON.stringify({
    mode: req.mode, spi: req.spi, key: req.key.toString('hex'), outer_src: ADDR_A, outer_dst: ADDR_B,
    first_seq: req.firstSeq ?? 1, seal: req.seal.map((b) => b.toString('hex')), open: req.open.map((b) => b.toString('hex')),
  });
  const r = spawnSync(PYTHON, ['-c', SCAPY], { input, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `scapy failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as ScapyResult;
}

/** Packets with every padding length (payload sizes cover all residues mod 4), several protocols. */
function packetsFor(mode: EspMode): Buffer[] {
  const src = mode === 'tunnel' ? '10.1.0.5' : ADDR_A;
  const dst = mode === 'tunnel' ? '10.2.0.7' : ADDR_B;
  const out: Buffer[] = [];
  for (const n of [0, 1, 2, 3, 4, 5, 6, 7, 100, 1000, 1372]) out.push(udpPacket(src, dst, 40000 + n, 6081, n));
  if (mode === 'tunnel') {
    for (const [proto, n] of [[1, 64], [6, 40], [6, 1433]] as const) {
      const p = Buffer.alloc(20 + n);
      randomBytes(n).copy(p, 20);
      writeIpv4Header(p, 0, { src: parseIpv4(src)!, dst: parseIpv4(dst)!, protocol: proto, payloadLength: n, identification: n, ttl: 63 });
      out.push(p);
    }
  }
  return out;
}

for (const [mode, keyLength] of [['tunnel', 36], ['transport', 36], ['tunnel', 20], ['transport', 20]] as const) {
  const bits = keyLength === 36 ? 256 : 128;

  test(`scapy seals, we open: ${mode} mode, AES-${bits}-GCM`, () => {
    const keys = newKeys(0x0c0ffee1, 0x0badcafe, keyLength);
    const { b } = lab(mode, {}, keys);
    const packets = packetsFor(mode);
    // one more packet than delivered: the last is used for the forgery below
    const res = scapy({ mode, spi: keys.spiAB, key: keys.keyAB, seal: [...packets, packets[0]!], open: [] });
    assert.equal(res.sealed.length, packets.length + 1);
    for (const hex of res.sealed.slice(0, packets.length)) {
      const esp = Buffer.from(hex, 'hex');
      b.dp.onUdpEsp(esp, 0, esp.length, { address: ADDR_A, port: 4500 });
    }
    assert.deepEqual(b.dp.status().drops, { auth_failed: 0, replay: 0, unknown_spi: 0, malformed: 0, policy: 0, lifetime: 0 });
    assert.equal(b.tun.length, packets.length);
    for (const [i, got] of b.tun.entries()) {
      const sent = packets[i]!;
      if (mode === 'tunnel') {
        assert.deepEqual(got, sent, `packet ${i}`);
      } else {
        // header rebuilt from the SA: same addresses and protocol, our own TTL/ID, valid checksum
        assert.equal(got.length, sent.length);
        assert.equal(got[9], sent[9]);
        assert.deepEqual(got.subarray(12), sent.subarray(12), `packet ${i}`);
        assert.ok(checksumVerifies(got, 0, 20));
      }
    }

    // scapy's packet with one flipped bit is refused by us; the genuine one still passes after
    const genuine = Buffer.from(res.sealed[packets.length]!, 'hex');
    const forged = Buffer.from(genuine);
    forged[forged.length - 20]! ^= 0x10;
    b.dp.onUdpEsp(forged, 0, forged.length, { address: ADDR_A, port: 4500 });
    assert.equal(b.dp.status().drops.auth_failed, 1);
    assert.equal(b.tun.length, packets.length);
    b.dp.onUdpEsp(genuine, 0, genuine.length, { address: ADDR_A, port: 4500 });
    assert.equal(b.tun.length, packets.length + 1);
  });

  test(`we seal, scapy opens: ${mode} mode, AES-${bits}-GCM`, () => {
    const keys = newKeys(0x0c0ffee1, 0x0badcafe, keyLength);
    const { a } = lab(mode, {}, keys);
    const packets = packetsFor(mode);
    a.dp.onTunPackets(packets);
    assert.equal(a.sent.length, packets.length);
    const esp = a.sent.map((s) => s.datagram);
    const tampered = Buffer.from(esp[0]!);
    tampered[30]! ^= 1;
    const res = scapy({ mode, spi: keys.spiAB, key: keys.keyAB, seal: [], open: [...esp, tampered] });
    for (const [i, o] of res.opened.slice(0, packets.length).entries()) {
      assert.ok(o.ok, `scapy could not open our packet ${i}: ${o.ok ? '' : o.error}`);
      const got = Buffer.from(o.packet, 'hex');
      const sent = packets[i]!;
      if (mode === 'tunnel') {
        assert.deepEqual(got, sent, `packet ${i}`);
      } else {
        assert.equal(o.proto, sent[9]);
        assert.equal(o.src, ADDR_A);
        assert.equal(o.dst, ADDR_B);
        assert.deepEqual(got.subarray(20), sent.subarray(20), `packet ${i}`);
      }
    }
    const last = res.opened[packets.length]!;
    assert.equal(last.ok, false, 'scapy refuses a tampered packet of ours');
  });
}

// tshark's dissector stops before the ESP trailer and ICV when the inner payload throws (random
// bytes on UDP 6081 look like broken Geneve), so these packets use a port nothing dissects.
for (const mode of ['tunnel', 'transport'] as const) {
  test(`tshark decrypts our ${mode}-mode packets: ICV good, padding and next header as sent`, () => {
    const keys = newKeys(0x0c0ffee1, 0x0badcafe, 36);
    const { a } = lab(mode, {}, keys);
    const src = mode === 'tunnel' ? '10.1.0.5' : ADDR_A;
    const dst = mode === 'tunnel' ? '10.2.0.7' : ADDR_B;
    const packets = [0, 1, 2, 3, 4, 5, 6, 7, 1000].map((n) => udpPacket(src, dst, 40000, 40001, n));
    a.dp.onTunPackets(packets);
    const pcap = new PcapBufferWriter(LINKTYPE_RAW, { now: () => 0 });
    for (const s of a.sent) pcap.writeUdp(s.datagram, { src: parseIpv4(ADDR_A)!, dst: parseIpv4(ADDR_B)!, srcPort: 4500, dstPort: 4500 });
    const dir = mkdtempSync(path.join(tmpdir(), 'esp-tshark-'));
    try {
      writeFileSync(path.join(dir, 'capture.pcap'), pcap.toBuffer());
      writeFileSync(
        path.join(dir, 'esp_sa'),
        '# This file is automatically generated, DO NOT MODIFY.\n' +
          `"IPv4","*","*","0x${keys.spiAB.toString(16).padStart(8, '0')}","AES-GCM with 16 octet ICV [RFC4106]","0x${keys.keyAB.toString('hex')}","NULL",""\n`,
      );
      const r = spawnSync(
        'tshark',
        ['-r', path.join(dir, 'capture.pcap'), '-o', 'esp.enable_encryption_decode:TRUE', '-o', 'esp.enable_authentication_check:TRUE',
          '-T', 'fields', '-E', 'separator=;', '-e', 'esp.sequence', '-e', 'esp.icv_good', '-e', 'esp.pad_len', '-e', 'esp.protocol', '-e', 'udp.length'],
        { encoding: 'utf8', env: { ...process.env, WIRESHARK_CONFIG_DIR: dir }, timeout: 60_000 },
      );
      assert.equal(r.status, 0, r.stderr);
      const rows = r.stdout.trim().split('\n').map((l) => l.split(';'));
      assert.equal(rows.length, packets.length);
      for (const [i, [seq, good, padLen, nh, udpLengths]] of rows.entries()) {
        const sent = packets[i]!;
        const payload = mode === 'tunnel' ? sent.length : sent.length - 20;
        assert.equal(seq, String(i + 1));
        assert.equal(good, '1', `packet ${i}: ICV`);
        assert.equal(padLen, String(espPaddingLength(payload)));
        assert.equal(Number(nh), mode === 'tunnel' ? 4 : 17);
        // the inner UDP length tshark read after decryption
        assert.equal(udpLengths!.split(',').at(-1), String(sent.readUInt16BE(24)));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
