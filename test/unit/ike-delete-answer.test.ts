import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExchangeType } from '../../src/ike/constants.js';
import { ClosedSaAnswers } from '../../src/ike/closed-sas.js';
import { conn, pskAuth, Sim, type Packet } from './ike-sim.js';

// A lost answer to an IKE SA's DELETE: the peer that was asked has removed the SA at once; the
// asking side retransmits. The answer is kept a while (src/ike/closed-sas.ts), so a
// retransmission is answered again and the asking side removes the SA after one retransmit,
// not after all of them (about a minute on the agents' timers, ~45 s on the defaults here).

const A = '192.0.2.1';
const B = '192.0.2.2';
const informationalResponse = (p: Packet): boolean => p.bytes[18] === ExchangeType.INFORMATIONAL && (p.bytes[19]! & 0x20) !== 0;

function pair() {
  const sim = new Sim();
  const a = sim.add('a', A, [conn('site', A, B)], pskAuth('secret', 'a.example', 'b.example'));
  const b = sim.add('b', B, [conn('site', B, A, { remoteAddrs: ['%any'] }, { localTs: ['10.2.0.0/24'], remoteTs: ['10.1.0.0/24'] })], pskAuth('secret', 'b.example', 'a.example'));
  a.engine.initiate('site');
  sim.advance(1000);
  assert.equal(a.engine.status().ike_sas[0]?.state, 'established');
  return { sim, a, b };
}

test('the answer to a DELETE lost once: the retransmitted DELETE is answered from the closed SA\'s cache, the SA goes at the first retransmit', () => {
  const { sim, a, b } = pair();
  let answers = 0;
  sim.drop = (p) => p.from.address === B && informationalResponse(p) && answers++ === 0;
  const t0 = sim.now;
  a.engine.terminate('site');
  sim.advance(100);
  assert.equal(b.engine.status().ike_sas.length, 0, 'the peer removed the SA at once');
  assert.equal(a.engine.status().ike_sas[0]?.state, 'deleting');
  const answeredBefore = b.engine.counters.retransmittedRequests;
  // The first retransmit is due after 4 s (defaults): the cached answer ends it.
  sim.advance(4500);
  assert.equal(answers, 2, 'the first answer (lost) and the one from the cache');
  assert.equal(b.engine.counters.retransmittedRequests - answeredBefore, 1, 'the retransmitted DELETE answered again');
  assert.equal(a.engine.status().ike_sas.length, 0, `gone ${sim.now - t0} ms after the DELETE (not after every retransmit)`);
  assert.equal(b.engine.counters.unknownSpi, 0);
});

test('only the same request is answered, only for a while; other messages for the closed SA stay unknown SPI', () => {
  const cache = new ClosedSaAnswers(30_000, 2);
  const ep = { address: A, port: 4500 };
  cache.remember('aa', Buffer.from('delete-1'), [Buffer.from('answer-1')], ep, ep, 0);
  assert.deepEqual(cache.answer('aa', Buffer.from('delete-1'), 1000)?.packets, [Buffer.from('answer-1')]);
  assert.equal(cache.answer('aa', Buffer.from('delete-2'), 1000), undefined, 'different bytes: not a retransmission');
  assert.equal(cache.answer('bb', Buffer.from('delete-1'), 1000), undefined, 'another SPI');
  assert.equal(cache.answer('aa', Buffer.from('delete-1'), 30_000), undefined, 'expired');
  // Bounded: the oldest entry goes first.
  for (const k of ['c1', 'c2', 'c3']) cache.remember(k, Buffer.from(k), [], ep, ep, 31_000);
  assert.equal(cache.size, 2);
  assert.equal(cache.answer('c1', Buffer.from('c1'), 31_000), undefined);
  assert.ok(cache.answer('c3', Buffer.from('c3'), 31_000));
});
