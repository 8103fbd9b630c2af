// The batch paths of the ESP data path: many packets sealed / opened in one native call, in
// place. Checked against the published ESP packets (draft-mcgrew-gcm-test-01), against
// node:crypto for both AES-GCM implementations, and for the protocol rules a batch must not
// bend: the replay window moves only after the ICV (RFC 4303 §3.4.3), a duplicate within one
// batch is a replay, a forgery is dropped and counted without disturbing its neighbours, a hard
// lifetime reached mid-batch stops the rest, and bad packets are counted by cause, never thrown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fixturesDir } from '../helpers/paths.js';
import { EspGcm, type GcmImplementation } from '../../src/crypto/aes-gcm.js';
import { nativeAesGcm } from '../../src/native/aead.js';
import { OutboundSa, SEQ_HARD_LIMIT } from '../../src/esp/sa-outbound.js';
import { InboundSa } from '../../src/esp/sa-inbound.js';
import { LifetimeLimits } from '../../src/esp/lifetime.js';
import { EspDataPath } from '../../src/esp/datapath.js';
import { newEspTrailerView, parseEspTrailer, writeEspTrailer, espPacketLength } from '../../src/wire/esp.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { ADDR_A, ADDR_B, lab, newKeys, specs, udpPacket, Host } from './esp-datapath-helpers.js';

interface Case { page: number; key: string; spi: string; seq: string; nonce: string; plaintext: string; packet: string }
const fixture = JSON.parse(readFileSync(path.join(fixturesDir, 'esp', 'draft-mcgrew-gcm-test-01-esp.json'), 'utf8')) as { cases: Case[] };

const implementations: GcmImplementation[] = nativeAesGcm() ? ['native', 'node'] : ['node'];

test('batch seal (reserveAt + sealBatch, in place) gives the published ESP packets; batch open gives the plaintext back', () => {
  let checked = 0;
  for (const c of fixture.cases) {
    const seq = Buffer.from(c.seq, 'hex');
    if (seq.length !== 4 || seq.readUInt32BE(0) >= SEQ_HARD_LIMIT) continue; // ESN cases, and a number we refuse to send
    const nonce = Buffer.from(c.nonce, 'hex');
    const key = Buffer.concat([Buffer.from(c.key, 'hex'), nonce.subarray(0, 4)]);
    const plaintext = Buffer.from(c.plaintext, 'hex');
    const trailer = newEspTrailerView();
    assert.equal(parseEspTrailer(plaintext, 0, plaintext.length, trailer), null);
    const payload = plaintext.subarray(0, trailer.payloadLength);
    const expected = Buffer.from(c.packet, 'hex');

    const sa = new OutboundSa({ spi: parseInt(c.spi, 16), key, limits: new LifetimeLimits(undefined, undefined), testOnlyFirstSeq: seq.readUInt32BE(0),
      unsafeFixedIvForKnownAnswerTest: nonce.subarray(4) });
    const region = Buffer.alloc(8 + espPacketLength(payload.length)); // 8 bytes in: offsets are honoured
    assert.equal(sa.reserveAt(region, 8, payload.length), true);
    payload.copy(region, 8 + 16);
    const end = writeEspTrailer(region, 8 + 16, payload.length, trailer.nextHeader);
    const desc = Uint32Array.of(8 + 8, 8, 8, 8 + 16, end - (8 + 16), 8 + 16);
    assert.equal(sa.sealBatch(region, 1, desc), 1);
    assert.equal(region.subarray(8).toString('hex'), expected.toString('hex'), `page ${c.page}`);

    const inSa = new InboundSa({ spi: parseInt(c.spi, 16), key, limits: new LifetimeLimits(undefined, undefined) });
    const results = new Int32Array(1);
    assert.equal(inSa.openBatch(region, 1, desc, results), 1);
    assert.equal(results[0], plaintext.length);
    assert.equal(region.subarray(8 + 16, 8 + 16 + plaintext.length).toString('hex'), plaintext.toString('hex'));
    assert.equal(inSa.finishOpen(seq.readUInt32BE(0), results[0]!, region, 8 + 16, trailer), null);
    assert.equal(trailer.payloadLength, payload.length);
    checked++;
  }
  assert.equal(checked, 3, "the three 32-bit-sequence cases below 2^32 - 1");
});

for (const impl of implementations) {
  test(`EspGcm.sealBatch/openBatch (${impl}) match node:crypto, flag a forgery, stop at a descriptor outside the buffer`, () => {
    const key = randomBytes(36);
    const gcm = new EspGcm(key, { implementation: impl });
    const sizes = [0, 1, 15, 16, 17, 1400, 64];
    const buf = Buffer.alloc(sizes.reduce((n, s) => n + 40 + s, 0));
    const desc = new Uint32Array(sizes.length * 6);
    const plains: Buffer[] = [];
    let at = 0;
    sizes.forEach((size, i) => {
      randomBytes(16).copy(buf, at); // AAD (8) ‖ IV (8)
      const plain = randomBytes(size);
      plain.copy(buf, at + 16);
      plains.push(plain);
      desc.set([at + 8, at, 8, at + 16, size, at + 16], i * 6);
      at += 40 + size;
    });
    const before = Buffer.from(buf);
    assert.equal(gcm.sealBatch(buf, sizes.length, desc), sizes.length);
    sizes.forEach((size, i) => {
      const [iv, aad, inOff] = [desc[i * 6]!, desc[i * 6 + 1]!, desc[i * 6 + 3]!];
      const c = createCipheriv('aes-256-gcm', key.subarray(0, 32), Buffer.concat([key.subarray(32), before.subarray(iv, iv + 8)]), { authTagLength: 16 });
      c.setAAD(before.subarray(aad, aad + 8));
      const want = Buffer.concat([c.update(plains[i]!), c.final(), c.getAuthTag()]);
      assert.equal(buf.subarray(inOff, inOff + size + 16).toString('hex'), want.toString('hex'), `packet ${i}`);
    });
    // Packet 5's ciphertext is forged: only it fails, its output span is zeroed.
    buf[desc[5 * 6 + 3]! + 3]! ^= 1;
    const results = new Int32Array(sizes.length);
    assert.equal(gcm.openBatch(buf, sizes.length, desc, results), sizes.length);
    sizes.forEach((size, i) => {
      const inOff = desc[i * 6 + 3]!;
      if (i === 5) {
        assert.equal(results[i], -1);
        assert.ok(buf.subarray(inOff, inOff + size).every((b) => b === 0), 'unauthenticated plaintext is wiped');
      } else {
        assert.equal(results[i], size);
        assert.equal(buf.subarray(inOff, inOff + size).toString('hex'), plains[i]!.toString('hex'));
      }
    });
    // A descriptor past the end: the batch stops there, nothing is thrown.
    const bad = Uint32Array.of(0, 0, 8, 16, 4, 16, 0, 0, 8, buf.length - 4, 64, buf.length - 4);
    assert.equal(gcm.sealBatch(buf, 2, bad), 1);
    assert.equal(gcm.openBatch(buf, 2, bad, new Int32Array(2)), 1);
  });
}

/** The datagrams `from` sent, copied into one buffer (as the receive slab holds a batch), 4 bytes apart. */
function slab(datagrams: Buffer[]): { buf: Buffer; at: number[] } {
  const buf = Buffer.alloc(datagrams.reduce((n, d) => n + d.length + 4, 0));
  const at: number[] = [];
  let p = 0;
  for (const d of datagrams) {
    at.push(p);
    d.copy(buf, p);
    p += d.length + 4;
  }
  return { buf, at };
}

const FROM = { address: ADDR_A, port: 4500 };

test('a batch with a duplicate, a forgery, a truncated packet and an unknown SPI: the genuine packets all arrive, each bad one is counted by cause', () => {
  const { a, b } = lab('tunnel');
  const sent = Array.from({ length: 5 }, (_, i) => udpPacket('10.1.0.5', '10.2.0.7', 1000 + i, 53, 100 + i));
  a.dp.onTunPackets(sent);
  const wire = a.sent.splice(0).map((s) => Buffer.from(s.datagram));
  assert.equal(wire.length, 5);
  const forged = Buffer.from(wire[3]!);
  forged[forged.length - 1]! ^= 0x80;
  const unknown = Buffer.from(wire[4]!);
  unknown.writeUInt32BE(0xdead, 0);
  // In order: 0, duplicate of 0, 1, 2, forged 3, genuine 3, truncated, unknown SPI, 4.
  const batch = [wire[0]!, wire[0]!, wire[1]!, wire[2]!, forged, wire[3]!, wire[2]!.subarray(0, 30), unknown, wire[4]!];
  const { buf, at } = slab(batch);
  batch.forEach((d, i) => b.dp.queueUdpEsp(buf, at[i]!, d.length, FROM));
  assert.equal(b.tun.length, 0, 'nothing is delivered before the flush');
  b.dp.flushUdpEsp();
  assert.deepEqual(b.tun.map((p) => p.toString('hex')), sent.map((p) => p.toString('hex')));
  const st = b.dp.status();
  assert.deepEqual(st.drops, { auth_failed: 1, replay: 1, unknown_spi: 1, malformed: 1, policy: 0, lifetime: 0 });
  assert.equal(st.children[0]!.sas[0]!.packets_in, 5);
});

test('the window moves only for authentic packets: a forgery of a future number does not shadow the genuine one in the same batch', () => {
  const { a, b } = lab('tunnel');
  a.dp.onTunPackets([udpPacket('10.1.0.5', '10.2.0.7', 1, 2, 10), udpPacket('10.1.0.5', '10.2.0.7', 1, 2, 11)]);
  const [p1, p2] = a.sent.splice(0).map((s) => Buffer.from(s.datagram));
  const forged2 = Buffer.from(p2!);
  forged2[20]! ^= 1;
  const batch = [forged2, p1!, p2!];
  const { buf, at } = slab(batch);
  batch.forEach((d, i) => b.dp.queueUdpEsp(buf, at[i]!, d.length, FROM));
  b.dp.flushUdpEsp();
  assert.equal(b.tun.length, 2);
  assert.equal(b.dp.status().drops.auth_failed, 1);
  assert.equal(b.dp.status().drops.replay, 0);
});

test('a hard packet limit reached mid-batch drops the rest of the batch as lifetime', () => {
  const k = newKeys();
  const s = specs('tunnel', k);
  const clock = { now: 1_700_000_000_000 };
  const a = new Host(clock);
  const b = new Host(clock);
  a.dp.installChild(s.a);
  b.dp.installChild({ ...s.b, hardLifetime: { packets: 2 } });
  a.dp.onTunPackets(Array.from({ length: 4 }, (_, i) => udpPacket('10.1.0.5', '10.2.0.7', 1, 2, 20 + i)));
  const wire = a.sent.splice(0).map((x) => Buffer.from(x.datagram));
  const { buf, at } = slab(wire);
  wire.forEach((d, i) => b.dp.queueUdpEsp(buf, at[i]!, d.length, FROM));
  b.dp.flushUdpEsp();
  assert.equal(b.tun.length, 2);
  assert.equal(b.dp.status().drops.lifetime, 2);
  assert.ok(b.events.some((e) => e.type === 'hard-expired'));
});

test('packets from two buffers: the first buffer is opened before the second is queued, all arrive in order', () => {
  const { a, b } = lab('tunnel');
  const sent = Array.from({ length: 4 }, (_, i) => udpPacket('10.1.0.5', '10.2.0.7', 1, 2, 30 + i));
  a.dp.onTunPackets(sent);
  const wire = a.sent.splice(0).map((x) => Buffer.from(x.datagram));
  const x = slab(wire.slice(0, 2));
  const y = slab(wire.slice(2));
  b.dp.queueUdpEsp(x.buf, x.at[0]!, wire[0]!.length, FROM);
  b.dp.queueUdpEsp(x.buf, x.at[1]!, wire[1]!.length, FROM);
  b.dp.queueUdpEsp(y.buf, y.at[0]!, wire[2]!.length, FROM);
  assert.equal(b.tun.length, 2, 'the first buffer was flushed when the second arrived');
  b.dp.queueUdpEsp(y.buf, y.at[1]!, wire[3]!.length, FROM);
  b.dp.flushUdpEsp();
  assert.deepEqual(b.tun.map((p) => p.toString('hex')), sent.map((p) => p.toString('hex')));
});

test('transport mode: writeTransport gets the payload and addresses that the rebuilt-header path puts in a whole packet', () => {
  const k = newKeys();
  const s = specs('transport', k);
  const clock = { now: 1_700_000_000_000 };
  const a = new Host(clock);
  a.dp.installChild(s.a);
  const got: Array<{ payload: string; src: number; dst: number; protocol: number }> = [];
  let ends = 0;
  const b = new EspDataPath({
    tun: {
      write: () => assert.fail('whole packets are not written when writeTransport is there'),
      writeTransport: (payload, offset, length, src, dst, protocol) => got.push({ payload: payload.subarray(offset, offset + length).toString('hex'), src, dst, protocol }),
      endBatch: () => ends++,
    },
    udp: { send: () => {} },
    now: () => clock.now,
  });
  b.installChild(s.b);
  const plainB = new Host(clock);
  plainB.dp.installChild(s.b);
  const sent = [udpPacket(ADDR_A, ADDR_B, 6081, 6081, 200), udpPacket(ADDR_A, ADDR_B, 6081, 6081, 0)];
  a.dp.onTunPackets(sent);
  const wire = a.sent.splice(0).map((x) => Buffer.from(x.datagram));
  const { buf, at } = slab(wire);
  wire.forEach((d, i) => b.queueUdpEsp(buf, at[i]!, d.length, FROM));
  b.flushUdpEsp();
  for (const d of wire.map((w) => Buffer.from(w))) plainB.dp.onUdpEsp(d, 0, d.length, FROM);
  assert.equal(ends, 1);
  assert.deepEqual(got, plainB.tun.map((p) => ({ payload: p.subarray(20).toString('hex'), src: parseIpv4(ADDR_A), dst: parseIpv4(ADDR_B), protocol: 17 })));
  assert.deepEqual(got.map((g) => g.payload), sent.map((p) => p.subarray(20).toString('hex')));
});
