// The ESP data path between two in-process peers: round trips in both modes, hostile input,
// lifetimes, sequence exhaustion, make-before-break. Every refused packet must be counted under
// the right cause and nothing refused may reach the TUN writer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EspGcm } from '../../src/crypto/aes-gcm.js';
import { EspGcmTransform } from '../../src/esp/transform.js';
import { SEQ_SOFT_LIMIT } from '../../src/esp/sa-outbound.js';
import { cidrSelector } from '../../src/wire/traffic-selector.js';
import { checksumVerifies, ipv4PseudoHeaderSum } from '../../src/wire/checksum.js';
import { ESP_MIN_PACKET_LENGTH, espPacketLength } from '../../src/wire/esp.js';
import { buildIpv4UdpPacket } from '../../src/wire/udp.js';
import { writeIpv4Header } from '../../src/wire/ipv4.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { ADDR_A, ADDR_B, Host, lab, newKeys, specs, udpPacket } from './esp-datapath-helpers.js';
import type { DropCounts } from '../../src/esp/counters.js';

const NO_DROPS: DropCounts = { auth_failed: 0, replay: 0, unknown_spi: 0, malformed: 0, policy: 0, lifetime: 0 };
function drops(h: Host, extra: Partial<DropCounts> = {}): void {
  assert.deepEqual(h.dp.status().drops, { ...NO_DROPS, ...extra });
}

/** Seals an arbitrary encrypted part (payload ‖ whatever trailer) as b would receive it from a. */
function rawEsp(key: Buffer, spi: number, seq: number, encrypted: Buffer): Buffer {
  const out = Buffer.alloc(16 + encrypted.length + 16);
  out.writeUInt32BE(spi, 0);
  out.writeUInt32BE(seq, 4);
  out.writeUInt32BE(0, 8);
  out.writeUInt32BE(seq, 12);
  const aad = out.subarray(0, 8);
  new EspGcm(key).seal(out.subarray(8, 16), aad, encrypted, out, 16);
  return out;
}

/** An ESP packet for b's inbound SA (from a), with a chosen next header and payload. */
function espFor(keys: { spiAB: number; keyAB: Buffer }, seq: number, payload: Buffer, nextHeader: number): Buffer {
  const out = Buffer.alloc(espPacketLength(payload.length));
  new EspGcmTransform(keys.keyAB).seal(keys.spiAB, seq, undefined, 0, seq, payload, 0, payload.length, nextHeader, out, 0);
  return out;
}

test('tunnel mode: packets both ways arrive intact; only ESP-in-UDP to 4500 leaves', () => {
  const { a, b } = lab('tunnel');
  const p1 = udpPacket('10.1.0.5', '10.2.0.7', 40000, 5001, 1000);
  const p2 = udpPacket('10.1.0.9', '10.2.0.200', 1, 2, 0);
  const icmp = Buffer.alloc(84);
  writeIpv4Header(icmp, 0, { src: parseIpv4('10.1.0.5')!, dst: parseIpv4('10.2.0.7')!, protocol: 1, payloadLength: 64 });
  icmp[20] = 8;
  a.dp.onTunPackets([p1, p2, icmp]);
  assert.equal(a.sent.length, 3);
  for (const [i, s] of a.sent.entries()) {
    assert.equal(s.port, 4500);
    assert.equal(s.address, ADDR_B);
    assert.equal(s.datagram.readUInt32BE(0), 0x1001);
    assert.equal(s.datagram.readUInt32BE(4), i + 1, 'sequence numbers start at 1');
    assert.equal(s.datagram.length, espPacketLength([p1, p2, icmp][i]!.length));
    assert.equal(s.datagram.indexOf(p1.subarray(28, 60)), -1, 'no cleartext inside');
  }
  a.deliverTo(b);
  assert.deepEqual(b.tun, [p1, p2, icmp]);
  drops(b);

  const back = udpPacket('10.2.0.7', '10.1.0.5', 5001, 40000, 1400);
  b.dp.onTunPackets([back]);
  assert.equal(b.sent[0]!.address, ADDR_A);
  b.deliverTo(a);
  assert.deepEqual(a.tun, [back]);

  const st = b.dp.status();
  const sa = st.children[0]!.sas[0]!;
  assert.equal(sa.spi_in, '0x00001001');
  assert.equal(sa.spi_out, '0x00002002');
  assert.equal(sa.packets_in, 3);
  assert.equal(sa.bytes_in, p1.length + p2.length + icmp.length);
  assert.equal(sa.packets_out, 1);
  assert.equal(sa.bytes_out, back.length);
  assert.equal(sa.proposal, 'AES_GCM_16_256');
  assert.deepEqual(st.children[0]!.local_ts, ['10.2.0.0/24']);
  assert.deepEqual(st.children[0]!.remote_ts, ['10.1.0.0/24']);
});

test('tunnel mode with AES-128-GCM keys (20 bytes) works too', () => {
  const { a, b } = lab('tunnel', {}, newKeys(0x1001, 0x2002, 20));
  const p = udpPacket('10.1.0.5', '10.2.0.7', 1, 2, 100);
  a.dp.onTunPackets([p]);
  a.deliverTo(b);
  assert.deepEqual(b.tun, [p]);
  assert.equal(b.dp.status().children[0]!.proposal, 'AES_GCM_16_128');
});

test('transport mode: the IP payload is protected and the header rebuilt (remote → local, TTL 64, checksums valid)', () => {
  const { a, b } = lab('transport');
  const geneve = udpPacket(ADDR_A, ADDR_B, 51234, 6081, 200);
  a.dp.onTunPackets([geneve]);
  assert.equal(a.sent.length, 1);
  // ESP carries only the 180+8 UDP bytes, next header 17
  assert.equal(a.sent[0]!.datagram.length, espPacketLength(geneve.length - 20));
  a.deliverTo(b);
  assert.equal(b.tun.length, 1);
  const got = b.tun[0]!;
  assert.deepEqual(got, geneve, 'same bytes: our builder and the rebuilt header agree');
  assert.ok(checksumVerifies(got, 0, 20));
  assert.equal(got[8], 64);
  assert.ok(checksumVerifies(got, 20, got.length - 20, ipv4PseudoHeaderSum(parseIpv4(ADDR_A)!, parseIpv4(ADDR_B)!, 17, got.length - 20)));

  // a sender-side header with other TTL/ID: the receiver still rebuilds its own clean header
  const odd = buildIpv4UdpPacket({ src: parseIpv4(ADDR_B)!, dst: parseIpv4(ADDR_A)!, srcPort: 6081, dstPort: 6081, ttl: 3, identification: 777, dontFragment: true }, Buffer.from('hello'));
  b.dp.onTunPackets([odd]);
  b.deliverTo(a);
  const r = a.tun[0]!;
  assert.equal(r[8], 64);
  assert.ok(checksumVerifies(r, 0, 20));
  assert.deepEqual(r.subarray(12, 20), odd.subarray(12, 20));
  assert.deepEqual(r.subarray(20), odd.subarray(20));
});

test('transport mode: packets not between the two SA endpoints are not sent (policy)', () => {
  const { a } = lab('transport', { localTs: [cidrSelector('198.18.0.0/24', 17)], remoteTs: [cidrSelector('198.18.0.0/24', 17)] });
  a.dp.onTunPackets([udpPacket('198.18.0.9', ADDR_B, 1, 6081, 10)]);
  assert.equal(a.sent.length, 0);
  assert.equal(a.dp.status().outbound_drops.policy, 1);
});

test('outbound: no policy, no SA, malformed, oversize — dropped, counted, never sent in clear', () => {
  const { a } = lab('tunnel');
  a.dp.onTunPackets([udpPacket('10.9.0.1', '10.2.0.7', 1, 2, 10)]);
  a.dp.onTunPackets([Buffer.from([0x45, 0, 0])]);
  a.dp.onTunPackets([Buffer.from('6000000000000000', 'hex')]);
  const big = Buffer.alloc(65535);
  writeIpv4Header(big, 0, { src: parseIpv4('10.1.0.1')!, dst: parseIpv4('10.2.0.1')!, protocol: 17, payloadLength: 65535 - 20 });
  a.dp.onTunPackets([big]);
  // the largest packet that still fits one UDP datagram goes out
  const fits = Buffer.alloc(65507 - 36 - 2);
  writeIpv4Header(fits, 0, { src: parseIpv4('10.1.0.1')!, dst: parseIpv4('10.2.0.1')!, protocol: 17, payloadLength: fits.length - 20 });
  a.dp.onTunPackets([fits]);
  assert.equal(a.sent.length, 1);
  assert.equal(a.sent[0]!.datagram.length, 65504);
  a.dp.removeSa(0x2002);
  a.dp.onTunPackets([udpPacket('10.1.0.1', '10.2.0.7', 1, 2, 10)]);
  assert.equal(a.sent.length, 1);
  assert.deepEqual(a.dp.status().outbound_drops, { no_policy: 1, no_sa: 1, policy: 0, malformed: 2, lifetime: 0, oversize: 1 });
});

test('replay: the same datagram twice is delivered once; old ones beyond the window are refused', () => {
  const { a, b } = lab('tunnel', { replayWindow: 32 });
  const pkts = Array.from({ length: 40 }, (_, i) => udpPacket('10.1.0.5', '10.2.0.7', 1000 + i, 2, 20));
  a.dp.onTunPackets(pkts);
  const sent = a.sent.map((s) => s.datagram);
  const deliver = (d: Buffer) => b.dp.onUdpEsp(d, 0, d.length, { address: ADDR_A, port: 4500 });
  deliver(sent[39]!); // seq 40 first: 1..8 are now outside a 32-packet window
  deliver(sent[39]!); // duplicate
  deliver(sent[7]!); // seq 8: too old
  deliver(sent[8]!); // seq 9: the oldest still inside
  deliver(sent[8]!);
  assert.deepEqual(b.tun, [pkts[39], pkts[8]]);
  drops(b, { replay: 3 });
  assert.equal(b.dp.status().children[0]!.sas[0]!.drops.replay, 3);
});

test('a flipped bit in ciphertext, ICV, IV, sequence number or SPI: refused, counted, nothing on the TUN', () => {
  const { a, b } = lab('tunnel');
  a.dp.onTunPackets([udpPacket('10.1.0.5', '10.2.0.7', 1, 2, 100)]);
  const good = a.sent[0]!.datagram;
  const flip = (byte: number, bit = 0) => {
    const d = Buffer.from(good);
    d[byte]! ^= 1 << bit;
    b.dp.onUdpEsp(d, 0, d.length, { address: ADDR_A, port: 4500 });
  };
  flip(40); // ciphertext
  flip(good.length - 1, 7); // ICV
  flip(good.length - 16); // first ICV byte
  flip(12); // IV
  flip(4, 7); // sequence number (high bit: still "new", fails the ICV)
  flip(7, 1); // sequence number 1 → 3
  flip(3); // SPI → no such SA
  assert.equal(b.tun.length, 0);
  drops(b, { auth_failed: 6, unknown_spi: 1 });
  flip(7); // sequence number 1 → 0: never valid, refused before any cryptography
  drops(b, { auth_failed: 6, unknown_spi: 1, replay: 1 });
  // the genuine packet still opens: forgeries did not move the window
  b.dp.onUdpEsp(good, 0, good.length, { address: ADDR_A, port: 4500 });
  assert.equal(b.tun.length, 1);
});

test('truncated datagrams: every length below the minimum, and every cut of a real packet', () => {
  const { a, b } = lab('tunnel');
  a.dp.onTunPackets([udpPacket('10.1.0.5', '10.2.0.7', 1, 2, 60)]);
  const good = a.sent[0]!.datagram;
  for (let len = 0; len < ESP_MIN_PACKET_LENGTH; len++) b.dp.onUdpEsp(good, 0, len, { address: ADDR_A, port: 4500 });
  // lengths 0..3 carry no SPI, 4..35 have ours: all malformed
  drops(b, { malformed: ESP_MIN_PACKET_LENGTH });
  let aligned = 0;
  for (let len = ESP_MIN_PACKET_LENGTH; len < good.length; len++) {
    b.dp.onUdpEsp(Buffer.from(good.subarray(0, len)), 0, len, { address: ADDR_A, port: 4500 });
    if ((len - 32) % 4 === 0) aligned++;
  }
  const cuts = good.length - ESP_MIN_PACKET_LENGTH;
  drops(b, { malformed: ESP_MIN_PACKET_LENGTH + cuts - aligned, auth_failed: aligned });
  // offset/length that point outside the buffer
  b.dp.onUdpEsp(good, good.length - 10, 40, { address: ADDR_A, port: 4500 });
  b.dp.onUdpEsp(good, -4, 40, { address: ADDR_A, port: 4500 });
  assert.equal(b.tun.length, 0);
  assert.equal(b.dp.status().drops.malformed, ESP_MIN_PACKET_LENGTH + cuts - aligned + 2);
});

test('bad padding behind a valid ICV is malformed (and the packet still counts as seen)', () => {
  const { b, keys } = lab('tunnel');
  const inner = udpPacket('10.1.0.5', '10.2.0.7', 1, 2, 12); // 40 bytes: padding 2
  const deliver = (d: Buffer) => b.dp.onUdpEsp(d, 0, d.length, { address: ADDR_A, port: 4500 });
  const bad = [
    Buffer.concat([inner, Buffer.from([0, 0, 2, 4])]), // zero padding (Linux's old default: strongSwan rejects it)
    Buffer.concat([inner, Buffer.from([2, 1, 2, 4])]),
    Buffer.concat([inner, Buffer.from([1, 2, 60, 4])]), // pad length past the payload
  ];
  bad.forEach((enc, i) => deliver(rawEsp(keys.keyAB, keys.spiAB, i + 1, enc)));
  drops(b, { malformed: 3 });
  deliver(rawEsp(keys.keyAB, keys.spiAB, 1, bad[0]!));
  drops(b, { malformed: 3, replay: 1 });
  // the same inner packet with correct padding passes
  deliver(rawEsp(keys.keyAB, keys.spiAB, 10, Buffer.concat([inner, Buffer.from([1, 2, 2, 4])])));
  assert.deepEqual(b.tun, [inner]);
});

test('next header 59 (dummy, RFC 4303 TFC) is discarded silently and counted', () => {
  const { b, keys } = lab('tunnel');
  const d = espFor(keys, 1, Buffer.alloc(40, 0x33), 59);
  b.dp.onUdpEsp(d, 0, d.length, { address: ADDR_A, port: 4500 });
  const e = espFor(keys, 2, Buffer.alloc(0), 59);
  b.dp.onUdpEsp(e, 0, e.length, { address: ADDR_A, port: 4500 });
  assert.equal(b.tun.length, 0);
  drops(b);
  const st = b.dp.status();
  assert.equal(st.dummy_in, 2);
  assert.equal(st.children[0]!.sas[0]!.dummy_in, 2);
});

test('tunnel mode: inner packets outside the selectors, not IPv4, or inconsistent are refused', () => {
  const { b, keys } = lab('tunnel');
  const deliver = (d: Buffer) => b.dp.onUdpEsp(d, 0, d.length, { address: ADDR_A, port: 4500 });
  deliver(espFor(keys, 1, udpPacket('10.3.0.5', '10.2.0.7', 1, 2, 10), 4)); // source not in remote_ts
  deliver(espFor(keys, 2, udpPacket('10.1.0.5', '10.9.0.7', 1, 2, 10), 4)); // destination not in local_ts
  deliver(espFor(keys, 3, udpPacket('10.1.0.5', '10.2.0.7', 1, 2, 10), 41)); // next header IPv6
  const lying = udpPacket('10.1.0.5', '10.2.0.7', 1, 2, 10);
  lying.writeUInt16BE(200, 2); // total length beyond the payload
  deliver(espFor(keys, 4, lying, 4));
  deliver(espFor(keys, 5, Buffer.from('not an ip packet at all'), 4));
  assert.equal(b.tun.length, 0);
  drops(b, { policy: 2, malformed: 3 });
  // TFC padding after the inner packet is cut off by its total length
  const p = udpPacket('10.1.0.5', '10.2.0.7', 1, 2, 10);
  deliver(espFor(keys, 6, Buffer.concat([p, Buffer.alloc(50)]), 4));
  assert.deepEqual(b.tun, [p]);
});

test('transport mode: selectors apply to the rebuilt packet; oversize payloads are malformed', () => {
  const { b, keys } = lab('transport', {}, newKeys());
  const deliver = (d: Buffer) => b.dp.onUdpEsp(d, 0, d.length, { address: ADDR_A, port: 4500 });
  const udp = udpPacket(ADDR_A, ADDR_B, 1, 6081, 10).subarray(20);
  deliver(espFor(keys, 1, udp, 6)); // TCP: the selectors allow UDP only
  deliver(espFor(keys, 2, Buffer.alloc(65535 - 20 + 1), 17)); // rebuilt packet would exceed 65535
  assert.equal(b.tun.length, 0);
  deliver(espFor(keys, 3, udp, 17));
  assert.equal(b.tun.length, 1);
  drops(b, { policy: 1, malformed: 1 });
});

test('unknown SPI: counted globally, no SA touched', () => {
  const { a, b } = lab('tunnel');
  a.dp.onTunPackets([udpPacket('10.1.0.5', '10.2.0.7', 1, 2, 10)]);
  const d = Buffer.from(a.sent[0]!.datagram);
  d.writeUInt32BE(0xabcdef01, 0);
  b.dp.onUdpEsp(d, 0, d.length, { address: ADDR_A, port: 4500 });
  drops(b, { unknown_spi: 1 });
  assert.deepEqual(b.dp.status().children[0]!.sas[0]!.drops, NO_DROPS);
  assert.equal(b.tun.length, 0);
});

test('datagram at an offset (after the 4500 demux) opens in place', () => {
  const { a, b } = lab('tunnel');
  const p = udpPacket('10.1.0.5', '10.2.0.7', 1, 2, 33);
  a.dp.onTunPackets([p]);
  const esp = a.sent[0]!.datagram;
  const framed = Buffer.concat([Buffer.alloc(8, 0xff), esp, Buffer.alloc(5, 0xee)]);
  b.dp.onUdpEsp(framed, 8, esp.length, { address: ADDR_A, port: 4500 });
  assert.deepEqual(b.tun, [p]);
});

for (const [kind, limit, soft, hard] of [
  ['packets', 'packets', 3, 5],
  ['bytes', 'bytes', 3 * 100, 5 * 100],
] as const) {
  test(`lifetime by ${kind}: soft → rekey event, hard → SA unusable, drops counted as lifetime`, () => {
    const { a, b } = lab('tunnel', { softLifetime: { [limit]: soft }, hardLifetime: { [limit]: hard } });
    const p = udpPacket('10.1.0.5', '10.2.0.7', 1, 2, 72); // 100 bytes
    for (let i = 0; i < 3; i++) a.dp.onTunPackets([p]);
    assert.deepEqual(a.events, [{ type: 'soft-expired', child: 'c1', spiIn: 0x2002, reason: kind }]);
    for (let i = 0; i < 2; i++) a.dp.onTunPackets([p]);
    assert.deepEqual(a.events[1], { type: 'hard-expired', child: 'c1', spiIn: 0x2002, reason: kind });
    a.dp.onTunPackets([p, p]);
    assert.equal(a.sent.length, 5);
    assert.equal(a.dp.status().outbound_drops.lifetime, 2);
    assert.equal(a.dp.status().children[0]!.sas[0]!.refused_out, 2);
    assert.equal(a.events.length, 2);
    assert.equal(a.dp.status().children[0]!.sas[0]!.state, 'expired');

    // the receiving side counts the same traffic against its own inbound SA
    a.deliverTo(b);
    assert.equal(b.tun.length, 5);
    assert.deepEqual(b.events.map((e) => e.type), ['soft-expired', 'hard-expired']);
    // anything more for the expired inbound SA is refused
    const { a: a2 } = lab('tunnel', {}, { spiAB: 0x1001, spiBA: 0x2002, keyAB: Buffer.alloc(36), keyBA: Buffer.alloc(36) });
    a2.dp.onTunPackets([p]);
    const late = a2.sent[0]!.datagram;
    b.dp.onUdpEsp(late, 0, late.length, { address: ADDR_A, port: 4500 });
    assert.equal(b.tun.length, 5);
    drops(b, { lifetime: 1 });
  });
}

test('lifetime by time: tick() raises soft, then hard; the expired pair neither sends nor accepts', () => {
  const { a, b, clock } = lab('tunnel', { softLifetime: { seconds: 50 }, hardLifetime: { seconds: 60 } });
  const p = udpPacket('10.1.0.5', '10.2.0.7', 1, 2, 10);
  a.dp.onTunPackets([p]);
  clock.now += 49_000;
  a.dp.tick();
  assert.equal(a.events.length, 0);
  assert.equal(a.dp.status().children[0]!.sas[0]!.rekey_in_s, 1);
  clock.now += 1_000;
  a.dp.tick();
  a.dp.tick();
  assert.deepEqual(a.events, [{ type: 'soft-expired', child: 'c1', spiIn: 0x2002, reason: 'time' }]);
  assert.equal(a.dp.status().children[0]!.sas[0]!.state, 'rekey-due');
  a.dp.onTunPackets([p]); // still works after soft
  assert.equal(a.sent.length, 2);
  clock.now += 10_000;
  a.dp.tick();
  assert.deepEqual(a.events[1], { type: 'hard-expired', child: 'c1', spiIn: 0x2002, reason: 'time' });
  a.dp.onTunPackets([p]);
  assert.equal(a.sent.length, 2);
  assert.equal(a.dp.status().outbound_drops.lifetime, 1);
  // b has not ticked yet: its pair is still valid for the first two; after its tick, refused
  const [d1, d2] = a.sent.map((s) => s.datagram);
  b.dp.onUdpEsp(d1!, 0, d1!.length, { address: ADDR_A, port: 4500 });
  b.dp.tick();
  b.dp.onUdpEsp(d2!, 0, d2!.length, { address: ADDR_A, port: 4500 });
  assert.equal(b.tun.length, 1);
  drops(b, { lifetime: 1 });
  assert.equal(a.events.length, 2);
});

test('sequence numbers never wrap: rekey asked well before 2^32, sending refused at 2^32-1', () => {
  const { a, b } = lab('tunnel', { testOnlyFirstSeqOut: SEQ_SOFT_LIMIT - 2 });
  const p = udpPacket('10.1.0.5', '10.2.0.7', 1, 2, 10);
  a.dp.onTunPackets([p]);
  assert.equal(a.events.length, 0);
  a.dp.onTunPackets([p]);
  assert.deepEqual(a.events, [{ type: 'soft-expired', child: 'c1', spiIn: 0x2002, reason: 'seq' }]);
  assert.ok(SEQ_SOFT_LIMIT <= 0xffffffff - 1_000_000, 'well before the end');
  a.deliverTo(b);
  assert.equal(b.tun.length, 2);

  const near = lab('tunnel', { testOnlyFirstSeqOut: 0xffff_fffd });
  near.a.dp.onTunPackets([p, p]);
  assert.deepEqual(near.a.sent.map((s) => s.datagram.readUInt32BE(4)), [0xffff_fffd, 0xffff_fffe]);
  assert.deepEqual(near.a.events, [
    { type: 'soft-expired', child: 'c1', spiIn: 0x2002, reason: 'seq' },
    { type: 'hard-expired', child: 'c1', spiIn: 0x2002, reason: 'seq' },
  ]);
  near.a.dp.onTunPackets([p, p, p]);
  assert.equal(near.a.sent.length, 2);
  assert.equal(near.a.dp.status().outbound_drops.lifetime, 3);
  near.a.deliverTo(near.b);
  assert.equal(near.b.tun.length, 2, 'the peer accepts the last numbers');
});

test('make-before-break: a new pair takes outbound traffic at once; the old inbound SA opens until removed', () => {
  const k1 = newKeys(0x1001, 0x2002);
  const { a, b } = lab('tunnel', {}, k1);
  const p = udpPacket('10.1.0.5', '10.2.0.7', 1, 2, 10);
  a.dp.onTunPackets([p, p]);
  const inFlight = a.sent.splice(0).map((s) => s.datagram); // sealed with the old SA, not yet delivered

  const k2 = newKeys(0x3003, 0x4004);
  const s2 = specs('tunnel', k2);
  b.dp.installChild(s2.b); // responder first, as in IKE
  a.dp.installChild(s2.a);
  a.dp.onTunPackets([p]);
  assert.equal(a.sent[0]!.datagram.readUInt32BE(0), 0x3003, 'outbound uses the new SA');
  assert.equal(a.sent[0]!.datagram.readUInt32BE(4), 1, 'with its own sequence numbers');
  a.deliverTo(b);
  for (const d of inFlight) b.dp.onUdpEsp(d, 0, d.length, { address: ADDR_A, port: 4500 });
  assert.equal(b.tun.length, 3);
  drops(b);
  const st = b.dp.status().children[0]!;
  assert.deepEqual(st.sas.map((s) => [s.spi_in, s.outbound]), [['0x00003003', true], ['0x00001001', false]]);

  // installing the identical pair again changes nothing; a clashing SPI is refused
  b.dp.installChild(s2.b);
  assert.equal(b.dp.status().children[0]!.sas.length, 2);
  assert.throws(() => b.dp.installChild({ ...s2.b, name: 'other' }), RangeError);

  b.dp.removeSa(0x1001);
  const again = a.sent; // empty; resend an old one
  assert.equal(again.length, 0);
  b.dp.onUdpEsp(inFlight[0]!, 0, inFlight[0]!.length, { address: ADDR_A, port: 4500 });
  drops(b, { unknown_spi: 1 });
  assert.equal(b.tun.length, 3);

  b.dp.removeChild('c1');
  assert.deepEqual(b.dp.status().children, []);
  b.dp.onTunPackets([udpPacket('10.2.0.7', '10.1.0.5', 1, 2, 10)]);
  assert.equal(b.sent.length, 0);
  assert.equal(b.dp.status().outbound_drops.no_policy, 1);
});

test('reserved SPIs and bad keys are refused at install', () => {
  const { a } = lab('tunnel');
  const s = specs('tunnel', newKeys(0x5005, 0x6006)).a;
  assert.throws(() => a.dp.installChild({ ...s, name: 'x', spiIn: 255 }), RangeError);
  assert.throws(() => a.dp.installChild({ ...s, name: 'y', keyIn: Buffer.alloc(32) }), RangeError);
  assert.throws(() => a.dp.installChild({ ...s, name: 'z', replayWindow: 5000 }), RangeError);
  assert.equal(a.dp.status().children.length, 1);
});

test('fuzz: random datagrams (our SPI or not) never throw, never reach the TUN, and are each counted once', async () => {
  const fc = await import('fast-check');
  const { a, b } = lab('tunnel');
  a.dp.onTunPackets([udpPacket('10.1.0.5', '10.2.0.7', 1, 2, 100)]);
  const real = a.sent[0]!.datagram;
  let n = 0;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), fc.nat(), (bytes, ours, cut) => {
      const d = Buffer.from(bytes);
      if (ours && d.length >= 4) d.writeUInt32BE(0x1001, 0);
      b.dp.onUdpEsp(d, 0, d.length, { address: ADDR_A, port: 4500 });
      // and cuts/mutations of a genuine packet
      const m = Buffer.from(real.subarray(0, Math.min(real.length, cut % (real.length + 1))));
      if (m.length > 20) m[cut % m.length]! ^= 1 << (cut % 8);
      b.dp.onUdpEsp(m, 0, m.length, { address: ADDR_A, port: 4500 });
      n += 2;
    }),
    { numRuns: 500 },
  );
  const d = b.dp.status().drops;
  assert.equal(d.auth_failed + d.replay + d.unknown_spi + d.malformed + d.policy + d.lifetime, n);
  assert.equal(b.tun.length, 0);
  // random bytes from the TUN side never throw and never leave in clear
  fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => { a.dp.onTunPackets([Buffer.from(bytes)]); }), { numRuns: 300 });
});
