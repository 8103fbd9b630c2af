import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dhFromPrivate } from '../../src/crypto/dh.js';
import { ExchangeType, Notify, PayloadType } from '../../src/ike/constants.js';
import { decodeMessage, encodePlain, encodeProtected } from '../../src/ike/message/message.js';
import { findNotify, notify, type Payload } from '../../src/ike/message/payloads.js';
import { buildOffer, parseProposals } from '../../src/ike/proposals.js';
import { ikev2DecryptionRow, ikev2DecryptionTable } from '../../src/ike/keylog.js';
import { assertMirrored, conn, pskAuth, seededRandom, Sim } from './ike-sim.js';

const A = '192.0.2.1';
const B = '192.0.2.2';

function pair(extraA = {}, extraB = {}, authA = pskAuth('secret', 'a.example', 'b.example'), authB = pskAuth('secret', 'b.example', 'a.example')) {
  const sim = new Sim();
  const a = sim.add('a', A, [conn('site', A, B, extraA)], authA);
  const b = sim.add('b', B, [conn('site', B, A, extraB, { localTs: ['10.2.0.0/24'], remoteTs: ['10.1.0.0/24'] })], authB);
  return { sim, a, b };
}

/** An IKE_SA_INIT request as a (spoofed) initiator would send it. */
function initRequest(seed: string): Buffer {
  const rnd = seededRandom(seed);
  const dh = dhFromPrivate(14, rnd(32));
  const payloads: Payload[] = [
    { type: PayloadType.SA, proposals: buildOffer(parseProposals(['aes256gcm16-prfsha256-modp2048'], 'ike'), Buffer.alloc(0)) },
    { type: PayloadType.KE, group: 14, data: dh.publicValue },
    { type: PayloadType.NONCE, data: rnd(32) },
  ];
  return encodePlain({ spiI: rnd(8), spiR: Buffer.alloc(8), exchangeType: ExchangeType.IKE_SA_INIT, flags: 0x08, messageId: 0 }, payloads);
}

test('a flood of IKE_SA_INIT: half-open state stays bounded, cookies are demanded, a real peer still gets in', () => {
  const { sim, a, b } = pair({}, { remoteAddrs: ['%any'] });
  for (let i = 0; i < 200; i++) {
    sim.inject(initRequest(`flood-${i}`), { address: `198.51.100.${i % 250}`, port: 500 }, { address: B, port: 500 });
  }
  sim.advance(100);
  const halfOpen = b.engine.status().ike_sas.filter((s) => s.state === 'half-open').length;
  assert.equal(halfOpen, 10, 'no more half-open SAs than the cookie threshold');
  assert.equal(b.engine.counters.cookiesSent, 190);
  const cookieAnswers = sim.unrouted.filter((p) => {
    const r = decodeMessage(p.bytes, () => undefined);
    return r.ok && r.value.kind === 'message' && findNotify(r.value.message.payloads, Notify.COOKIE);
  });
  assert.equal(cookieAnswers.length, 190);
  a.engine.initiate('site');
  sim.advance(1000);
  assert.ok(a.logs.some((l) => l.includes('received COOKIE')));
  assertMirrored(a.childUps()[0]!, b.childUps()[0]!, assert.equal);
  // The flood's half-open SAs expire.
  sim.advance(60_000);
  assert.equal(b.engine.status().ike_sas.filter((s) => s.state === 'half-open').length, 0);
  assert.equal(b.engine.status().ike_sas.length, 1);
});

test('a retransmitted IKE_SA_INIT request gets the same response, without a second SA', () => {
  const { sim, b } = pair({}, { remoteAddrs: ['%any'] });
  const req = initRequest('once');
  sim.inject(req, { address: '198.51.100.7', port: 500 }, { address: B, port: 500 });
  sim.advance(10);
  sim.inject(req, { address: '198.51.100.7', port: 500 }, { address: B, port: 500 });
  sim.advance(10);
  assert.equal(b.engine.status().ike_sas.length, 1);
  assert.equal(sim.unrouted.length, 2);
  assert.deepEqual(sim.unrouted[0]!.bytes, sim.unrouted[1]!.bytes);
  assert.equal(b.engine.counters.retransmittedRequests, 1);
});

test('garbage datagrams: never a crash, each counted, the SA keeps working', () => {
  const { sim, a, b } = pair();
  a.engine.initiate('site');
  sim.advance(1000);
  const rnd = seededRandom('garbage');
  const valid = sim.delivered.map((p) => p.bytes);
  let injected = 0;
  for (let i = 0; i < 500; i++) {
    const kind = i % 5;
    let bytes: Buffer;
    if (kind === 0) bytes = rnd(1 + (rnd(1)[0]! % 200));
    else if (kind === 1) bytes = rnd(28 + (rnd(1)[0]! % 100)); // at least an IKE header's length
    else {
      const v = Buffer.from(valid[i % valid.length]!);
      if (kind === 2) bytes = v.subarray(0, rnd(1)[0]! % v.length);
      else {
        for (let k = 0; k < 3; k++) {
          const at = rnd(2).readUInt16BE(0) % v.length;
          v[at] = v[at]! ^ (1 + (rnd(1)[0]! % 255));
        }
        bytes = v;
      }
    }
    for (const port of [500, 4500]) {
      sim.inject(bytes, { address: A, port }, { address: B, port });
      injected++;
    }
  }
  sim.advance(100);
  const c = b.engine.counters;
  const counted = c.malformed + c.decryptFailed + c.unknownSpi + c.badMessageId + c.retransmittedRequests + c.unsupportedCritical + c.cookiesSent;
  assert.ok(counted >= injected - 50, `counted ${counted} of ${injected}`);
  assert.ok(c.decryptFailed > 0 && c.malformed > 0);
  assert.equal(b.ikeDowns().length, 0);
  a.engine.rekeyChild('site');
  sim.advance(1000);
  assertMirrored(a.liveChildren()[0]!, b.liveChildren()[0]!, assert.equal);
});

test('unknown critical payload in a request → UNSUPPORTED_CRITICAL_PAYLOAD; unknown status notifies and non-critical payloads are ignored', () => {
  const { sim, a, b } = pair();
  a.engine.initiate('site');
  sim.advance(1000);
  const up = a.ikeUps()[0]!;
  const frame = (messageId: number) => ({ spiI: up.spiI, spiR: up.spiR, exchangeType: ExchangeType.INFORMATIONAL, flags: 0x08, messageId });
  const at = { address: A, port: 4500 };
  const to = { address: B, port: 4500 };
  // message 2: unknown status notify + unknown non-critical payload → empty answer
  const benign: Payload[] = [notify(45000, Buffer.from('x')), { type: 201, raw: Buffer.from('abc'), unknown: true } as Payload];
  sim.inject(encodeProtected(frame(2), benign, up.keys.skEi, Buffer.alloc(8, 0xee)), at, to);
  sim.advance(50);
  // message 3: an unknown critical payload
  const critical: Payload[] = [{ type: 202, critical: true, raw: Buffer.from('abc'), unknown: true } as Payload];
  sim.inject(encodeProtected(frame(3), critical, up.keys.skEi, Buffer.alloc(8, 0xef)), at, to);
  sim.advance(50);
  const answers = sim.delivered.filter((p) => p.from.address === B).slice(-2).map((p) => decodeMessage(p.bytes, () => up.keys.skEr));
  assert.ok(answers[0]!.ok && answers[0]!.value.kind === 'message');
  assert.equal(answers[0]!.value.message.header.messageId, 2);
  assert.equal(answers[0]!.value.message.payloads.length, 0);
  assert.ok(answers[1]!.ok && answers[1]!.value.kind === 'message');
  const n = findNotify(answers[1]!.value.message.payloads, Notify.UNSUPPORTED_CRITICAL_PAYLOAD);
  assert.ok(n);
  assert.deepEqual(n.data, Buffer.from([202]));
  assert.equal(b.engine.counters.unsupportedCritical, 1);
  assert.equal(b.ikeDowns().length, 0);
});

test('IKE fragmentation (RFC 7383): a large IKE_AUTH goes out in fragments and is reassembled', () => {
  const big = (id: string, peer: string) => {
    const p = pskAuth('secret', id, peer);
    return { ...p, sign: (...args: Parameters<typeof p.sign>) => ({ ...p.sign(...args), certs: [Buffer.alloc(1400, 1), Buffer.alloc(1400, 2)] }) };
  };
  const { sim, a, b } = pair({ fragmentMtu: 576 }, { fragmentMtu: 576 }, big('a.example', 'b.example'), big('b.example', 'a.example'));
  a.engine.initiate('site');
  sim.advance(1000);
  assertMirrored(a.childUps()[0]!, b.childUps()[0]!, assert.equal);
  const authPackets = sim.delivered.filter((p) => p.to.port === 4500 && p.bytes.length > 28 && p.bytes[16] === PayloadType.SKF);
  assert.ok(authPackets.length >= 12, `${authPackets.length} fragments`);
  // On the wire: IPv4 (20) + UDP (8) + the non-ESP marker (4) + the IKE message.
  for (const p of authPackets) assert.ok(20 + 8 + 4 + p.bytes.length <= 576);
});

test('keylog rows in Wireshark ikev2_decryption_table format', () => {
  const { sim, a } = pair();
  a.engine.initiate('site');
  sim.advance(1000);
  const k = a.ikeUps()[0]!.keys;
  const row = ikev2DecryptionRow(k);
  const f = row.split(',');
  assert.equal(f[0], k.spiI.toString('hex'));
  assert.equal(f[0]!.length, 16);
  assert.equal(f[2]!.length, 72, 'SK_ei with salt: 36 bytes');
  assert.equal(f[4], '"AES-GCM-256 with 16 octet ICV [RFC5282]"');
  assert.equal(f[5], '');
  assert.equal(f[7], '"NONE [RFC4306]"');
  assert.match(ikev2DecryptionTable([k]), /^# This file is automatically generated, DO NOT MODIFY.\n[0-9a-f]{16},/);
});

test('deterministic: the same seeds give the same bytes on the wire', () => {
  const run = () => {
    const { sim, a } = pair();
    a.engine.initiate('site');
    sim.advance(1000);
    return sim.delivered.map((p) => p.bytes.toString('hex')).join('|');
  };
  assert.equal(run(), run());
});

test('a failing auth provider is contained at the engine boundary (counted, logged, no throw)', () => {
  const broken = pskAuth('secret', 'b.example', 'a.example');
  const { sim, a, b } = pair({}, {}, pskAuth('secret', 'a.example', 'b.example'), { ...broken, verify: () => { throw new Error('provider exploded'); } });
  a.engine.initiate('site');
  assert.doesNotThrow(() => sim.advance(1000));
  assert.equal(b.engine.counters.internalErrors, 1);
  assert.ok(b.logs.some((l) => l.includes('provider exploded')));
  void a;
});

test('hard half-open limit: beyond maxHalfOpen, INIT requests are dropped before any work, cookies or not', () => {
  // cookies demanded from the start (threshold 0), at most 5 half-open SAs
  const sim = new Sim();
  const b = sim.add('b', B, [conn('site', B, A, { remoteAddrs: ['%any'] })], pskAuth('secret', 'b.example', 'a.example'), { timers: { cookieThreshold: 0, maxHalfOpen: 5 } });
  for (let i = 0; i < 8; i++) {
    const from = { address: `198.51.100.${i + 1}`, port: 500 };
    const req = initRequest(`hard-${i}`);
    const before = sim.unrouted.length;
    sim.inject(req, from, { address: B, port: 500 });
    sim.advance(10);
    if (sim.unrouted.length === before) {
      assert.ok(i >= 5, `request ${i} dropped only once the limit is reached`);
      continue;
    }
    const answer = sim.unrouted.at(-1)!;
    const r = decodeMessage(answer.bytes, () => undefined);
    assert.ok(r.ok && r.value.kind === 'message');
    const cookie = findNotify(r.value.message.payloads, Notify.COOKIE);
    assert.ok(cookie, 'a cookie is demanded');
    // a well-behaved initiator repeats the request with the cookie first
    const dec = decodeMessage(req, () => undefined);
    assert.ok(dec.ok && dec.value.kind === 'message');
    const again = encodePlain({ spiI: dec.value.message.header.spiI, spiR: Buffer.alloc(8), exchangeType: 34, flags: 0x08, messageId: 0 }, [notify(Notify.COOKIE, cookie.data), ...dec.value.message.payloads]);
    sim.inject(again, from, { address: B, port: 500 });
    sim.advance(10);
  }
  assert.equal(b.engine.status().ike_sas.length, 5);
  assert.equal(b.engine.counters.halfOpenLimit, 3);
});

test('cookies: bound to the initiator (address, SPIi, Ni) and valid across one secret rotation', async () => {
  const { CookieJar } = await import('../../src/ike/cookies.js');
  const jar = new CookieJar(seededRandom('jar'), 1000);
  const ni = Buffer.alloc(32, 1);
  const spi = Buffer.alloc(8, 2);
  const c = jar.make(0, ni, '198.51.100.1', spi);
  assert.ok(jar.check(10, c, ni, '198.51.100.1', spi));
  assert.ok(!jar.check(10, c, ni, '198.51.100.2', spi), 'other address');
  assert.ok(!jar.check(10, c, Buffer.alloc(32, 3), '198.51.100.1', spi), 'other nonce');
  assert.ok(!jar.check(10, c, ni, '198.51.100.1', Buffer.alloc(8, 4)), 'other SPI');
  assert.ok(jar.check(1500, c, ni, '198.51.100.1', spi), 'previous secret still accepted after one rotation');
  assert.ok(!jar.check(2600, c, ni, '198.51.100.1', spi), 'not after two');
  assert.ok(!jar.check(10, Buffer.alloc(5), ni, '198.51.100.1', spi), 'garbage cookie');
});
