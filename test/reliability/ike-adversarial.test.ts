// Adversarial IKE peers against the engine over the in-memory network: a second IKE_SA_INIT under
// an SPI already taken, requests with wrong SPIs, our own messages reflected back, every message
// duplicated, messages for an SA already deleted. Each is refused and counted under its cause;
// the real SA is unharmed. (Floods, garbage and unknown critical payloads are in
// test/unit/ike-robustness.test.ts; loss and reordering in test/unit/ike-chaos.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dhFromPrivate } from '../../src/crypto/dh.js';
import { ExchangeType, IdType, PayloadType } from '../../src/ike/constants.js';
import { encodePlain } from '../../src/ike/message/message.js';
import { decodeBody, type Payload, type PayloadOf } from '../../src/ike/message/payloads.js';
import { signedOctets } from '../../src/ike/tasks/ike-auth.js';
import type { IkeCrypto, IkeSa } from '../../src/ike/sa/ike-sa.js';
import { hmacPrf } from '../../src/crypto/prf.js';
import { buildOffer, parseProposals } from '../../src/ike/proposals.js';
import { assertMirrored, conn, pskAuth, seededRandom, Sim, type Packet } from '../unit/ike-sim.js';

const A = '192.0.2.1';
const B = '192.0.2.2';

function pair() {
  const sim = new Sim();
  const a = sim.add('a', A, [conn('site', A, B)], pskAuth('secret', 'a.example', 'b.example'));
  const b = sim.add('b', B, [conn('site', B, A, { remoteAddrs: ['%any'] }, { localTs: ['10.2.0.0/24'], remoteTs: ['10.1.0.0/24'] })], pskAuth('secret', 'b.example', 'a.example'));
  return { sim, a, b };
}

function initRequest(spiI: Buffer, seed: string, ke?: Buffer): Buffer {
  const rnd = seededRandom(seed);
  const payloads: Payload[] = [
    { type: PayloadType.SA, proposals: buildOffer(parseProposals(['aes256gcm16-prfsha256-modp2048'], 'ike'), Buffer.alloc(0)) },
    { type: PayloadType.KE, group: 14, data: ke ?? dhFromPrivate(14, rnd(32)).publicValue },
    { type: PayloadType.NONCE, data: rnd(32) },
  ];
  return encodePlain({ spiI, spiR: Buffer.alloc(8), exchangeType: ExchangeType.IKE_SA_INIT, flags: 0x08, messageId: 0 }, payloads);
}

const sentBy = (sim: Sim, addr: string): Packet[] => sim.delivered.filter((p) => p.from.address === addr);

test('a different IKE_SA_INIT under an SPI already half-open is dropped and counted (regression: it went uncounted)', () => {
  const { sim, b } = pair();
  const spi = Buffer.from('0102030405060708', 'hex');
  const from = { address: '198.51.100.9', port: 500 };
  sim.inject(initRequest(spi, 'first'), from, { address: B, port: 500 });
  sim.advance(10);
  assert.equal(sim.unrouted.length, 1, 'the first request is answered');
  const before = { ...b.engine.counters };
  sim.inject(initRequest(spi, 'second'), from, { address: B, port: 500 });
  sim.advance(10);
  assert.equal(sim.unrouted.length, 1, 'the second is not answered');
  assert.equal(b.engine.counters.badMessageId, before.badMessageId + 1);
  assert.equal(b.engine.status().ike_sas.length, 1, 'no second SA');
  // The same first request again is a retransmission: answered from cache, counted as such.
  sim.inject(initRequest(spi, 'first'), from, { address: B, port: 500 });
  sim.advance(10);
  assert.equal(sim.unrouted.length, 2);
  assert.equal(b.engine.counters.retransmittedRequests, before.retransmittedRequests + 1);
});

test('an IKE_SA_INIT whose KE value is not in the group (empty, 0, 1, p-1) is answered INVALID_SYNTAX and counted malformed (regression: it went uncounted)', () => {
  const { sim, b } = pair();
  const p = Buffer.from('ffffffffffffffffc90fdaa22168c234c4c6628b80dc1cd129024e088a67cc74020bbea63b139b22514a08798e3404ddef9519b3cd3a431b302b0a6df25f14374fe1356d6d51c245e485b576625e7ec6f44c42e9a637ed6b0bff5cb6f406b7edee386bfb5a899fa5ae9f24117c4b1fe649286651ece45b3dc2007cb8a163bf0598da48361c55d39a69163fa8fd24cf5f83655d23dca3ad961c62f356208552bb9ed529077096966d670c354e4abc9804f1746c08ca18217c32905e462e36ce3be39e772c180e86039b2783a2ec07a28fb5c55df06f4c52c9de2bcbf6955817183995497cea956ae515d2261898fa051015728e5a8aacaa68ffffffffffffffff', 'hex');
  const pMinus1 = Buffer.from(p);
  pMinus1[255] = pMinus1[255]! - 1;
  const bad = [Buffer.alloc(0), Buffer.alloc(256), Buffer.concat([Buffer.alloc(255), Buffer.from([1])]), pMinus1];
  bad.forEach((ke, i) => {
    const before = b.engine.counters.malformed;
    const answers = sim.unrouted.length;
    sim.inject(initRequest(Buffer.alloc(8, i + 1), `ke-${i}`, ke), { address: '198.51.100.8', port: 500 }, { address: B, port: 500 });
    sim.advance(10);
    assert.equal(b.engine.counters.malformed, before + 1, `KE #${i}`);
    assert.equal(sim.unrouted.length, answers + 1, 'answered (INVALID_SYNTAX)');
  });
  assert.equal(b.engine.status().ike_sas.length, 0, 'no state kept');
});

test('requests with wrong SPIs: unknown responder SPI → unknownSpi; altered initiator SPI → decryptFailed (the header is authenticated); the SA is unharmed', () => {
  const { sim, a, b } = pair();
  a.engine.initiate('site');
  sim.advance(1000);
  // Hold back a's next request (a child rekey) to tamper with it before b sees it.
  const held: Packet[] = [];
  sim.drop = (p) => p.from.address === A && held.length === 0 && (held.push(p), true);
  a.engine.rekeyChild('site');
  sim.advance(50);
  sim.drop = () => false;
  const orig = held[0]!;
  const variants: [string, (m: Buffer) => void, keyof typeof b.engine.counters][] = [
    ['unknown SPIr', (m) => m.writeUInt32BE(0xdeadbeef, 12), 'unknownSpi'],
    ['zero SPIr', (m) => m.fill(0, 8, 16), 'unknownSpi'],
    ['altered SPIi', (m) => { m[0] = m[0]! ^ 0xff; }, 'decryptFailed'],
    ['SPIs swapped', (m) => { const i = Buffer.from(m.subarray(0, 8)); m.copy(m, 0, 8, 16); i.copy(m, 8); }, 'unknownSpi'],
  ];
  const answersBefore = sentBy(sim, B).length;
  for (const [label, tamper, counter] of variants) {
    const bytes = Buffer.from(orig.bytes);
    tamper(bytes);
    const before = b.engine.counters[counter];
    sim.inject(bytes, orig.from, orig.to);
    sim.advance(1);
    assert.equal(b.engine.counters[counter], before + 1, label);
  }
  assert.equal(sentBy(sim, B).length, answersBefore, 'none answered');
  // The untouched request still goes through: the rekey completes on both sides.
  sim.inject(orig.bytes, orig.from, orig.to);
  sim.advance(2000);
  assert.equal(a.liveChildren().length, 1);
  assertMirrored(a.liveChildren()[0]!, b.liveChildren()[0]!, assert.equal);
  assert.equal(a.childUps().length, 2, 'the rekeyed child came up');
});

test('reflected messages: our own requests and responses sent back to us are refused, never answered', () => {
  const { sim, a, b } = pair();
  a.engine.initiate('site');
  sim.advance(1000);
  a.engine.rekeyChild('site');
  b.engine.rekeyChild('site');
  sim.advance(1000);
  const fromA = sentBy(sim, A).filter((p) => p.bytes[18] !== ExchangeType.IKE_SA_INIT);
  const before = { ...a.engine.counters };
  const answers = sentBy(sim, A).length;
  for (const p of fromA) sim.inject(p.bytes, { address: B, port: p.to.port }, { address: A, port: p.from.port });
  sim.advance(10);
  // Every one carries the I flag ("from the original initiator"), so a looks it up by the
  // responder's SPI, which is b's: none of them is for an SA of a's.
  assert.equal(a.engine.counters.unknownSpi - before.unknownSpi, fromA.length);
  assert.equal(sentBy(sim, A).length, answers, 'nothing answered');
  assert.equal(a.engine.counters.internalErrors, 0);
  process.stdout.write(`# reflected: ${fromA.length} of our own messages sent back to us, ${a.engine.counters.unknownSpi - before.unknownSpi} refused (unknown SPI), 0 answered\n`);
  a.engine.rekeyChild('site');
  sim.advance(1000);
  assertMirrored(a.liveChildren()[0]!, b.liveChildren()[0]!, assert.equal);
});

test('a reflected IKE_SA_INIT request does not disturb our own handshake', () => {
  const { sim, a, b } = pair();
  // Bounce a's first request back at it as if b had sent it, before b's answer arrives.
  let bounced = false;
  sim.duplicate = (p) => {
    if (!bounced && p.from.address === A && p.bytes[18] === ExchangeType.IKE_SA_INIT) {
      bounced = true;
      sim.inject(p.bytes, { address: B, port: 500 }, { address: A, port: 500 });
    }
    return false;
  };
  a.engine.initiate('site');
  sim.advance(2000);
  assert.ok(bounced);
  assertMirrored(a.childUps()[0]!, b.childUps()[0]!, assert.equal);
  sim.advance(60_000);
  // Whatever a made of its own request (a half-open responder SA) is gone; one SA each remains.
  assert.equal(a.engine.status().ike_sas.length, 1, JSON.stringify(a.engine.status().ike_sas.map((s) => s.state)));
  assert.equal(b.engine.status().ike_sas.length, 1);
});

test('every message duplicated: the same SAs as without duplicates, duplicates answered from cache', () => {
  const run = (dup: boolean) => {
    const { sim, a, b } = pair();
    sim.duplicate = () => dup;
    a.engine.initiate('site');
    sim.advance(1000);
    a.engine.rekeyChild('site');
    sim.advance(1000);
    b.engine.createChild('site', 'pods');
    sim.advance(1000);
    a.engine.rekeyIke('site');
    sim.advance(1000);
    b.engine.terminate('site', 'pods');
    sim.advance(60_000);
    return { a, b };
  };
  const plain = run(false);
  const dup = run(true);
  for (const side of ['a', 'b'] as const) {
    assert.equal(dup[side].liveChildren().length, plain[side].liveChildren().length, side);
    assert.equal(dup[side].childUps().length, plain[side].childUps().length, `${side}: no extra child was made`);
    assert.equal(dup[side].engine.status().ike_sas.length, plain[side].engine.status().ike_sas.length, side);
    assert.equal(dup[side].engine.counters.internalErrors, 0);
  }
  const cached = dup.b.engine.counters.retransmittedRequests + dup.a.engine.counters.retransmittedRequests;
  assert.ok(cached > 0);
  process.stdout.write(`# duplicated: every datagram delivered twice through setup, child rekey, second child, IKE rekey, delete; ${cached} duplicate requests answered from cache; SAs and children as without duplicates\n`);
  for (const c of dup.a.liveChildren()) assertMirrored(c, dup.b.liveChildren().find((x) => x.spiOut === c.spiIn)!, assert.equal);
});

test('messages for an IKE SA already deleted are refused as unknown SPI, never revive it', () => {
  const { sim, a, b } = pair();
  a.engine.initiate('site');
  sim.advance(1000);
  a.engine.rekeyChild('site');
  sim.advance(1000);
  const old = sim.delivered.filter((p) => p.bytes[18] !== ExchangeType.IKE_SA_INIT);
  a.engine.terminate('site');
  sim.advance(5000);
  assert.equal(b.engine.status().ike_sas.length, 0);
  const before = b.engine.counters.unknownSpi + a.engine.counters.unknownSpi;
  const n = sim.delivered.length;
  for (const p of old) sim.inject(p.bytes, p.from, p.to);
  sim.advance(100);
  assert.equal(b.engine.counters.unknownSpi + a.engine.counters.unknownSpi - before, old.length);
  assert.equal(sim.delivered.length - n, old.length, 'nothing sent in reply');
  process.stdout.write(`# deleted SA: ${old.length} old messages replayed after the delete, ${b.engine.counters.unknownSpi + a.engine.counters.unknownSpi - before} refused (unknown SPI), 0 answered\n`);
  assert.equal(b.engine.status().ike_sas.length + a.engine.status().ike_sas.length, 0);
});

test('an ID payload with non-zero RESERVED bytes: kept on decode and covered by the AUTH octets as sent (regression: zeros were assumed; libreswan send-nonzero-reserved-id failed authentication)', () => {
  const body = Buffer.concat([Buffer.from([IdType.FQDN, 0xa5, 0x00, 0x5a]), Buffer.from('pluto.example')]);
  const r = decodeBody(PayloadType.IDi, false, body);
  assert.ok(r.ok);
  const id = r.value as PayloadOf<typeof PayloadType.IDi>;
  assert.deepEqual(id.reserved, Buffer.from([0xa5, 0x00, 0x5a]));
  const prf = hmacPrf('sha256');
  const sa = { initRequest: Buffer.from('init'), nr: Buffer.from('nonce') } as unknown as IkeSa;
  const crypto = { prf, keys: { skPi: Buffer.alloc(32, 7) } } as unknown as IkeCrypto;
  assert.deepEqual(signedOctets(sa, crypto, true, id), Buffer.concat([Buffer.from('init'), Buffer.from('nonce'), prf(Buffer.alloc(32, 7), body)]));
  // Zero RESERVED bytes decode to no `reserved` at all: what we send and re-encode stays as it was.
  const zero = decodeBody(PayloadType.IDi, false, Buffer.concat([Buffer.from([IdType.FQDN, 0, 0, 0]), Buffer.from('a')]));
  assert.ok(zero.ok && !('reserved' in zero.value));
});
