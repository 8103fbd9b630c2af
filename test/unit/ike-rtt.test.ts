import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RttEstimator } from '../../src/ike/rtt.js';
import { conn, pskAuth, Sim } from './ike-sim.js';

/** The first retransmission timeout from measured round trips (ike/rtt.ts), and the engine using it. */

test('RFC 6298: first sample sets SRTT and RTTVAR = R/2; later ones smooth by 1/8 and 1/4; RTO = SRTT + 4·RTTVAR within the bounds', () => {
  const r = new RttEstimator(1000, 4000);
  assert.equal(r.rtoMs, 1000, 'nothing measured: the configured timeout');
  r.sample(600);
  assert.equal(r.smoothedMs, 600);
  assert.equal(r.rtoMs, 1800); // 600 + 4 × 300
  r.sample(200);
  // RTTVAR = 0.75 × 300 + 0.25 × |600 − 200| = 325; SRTT = 0.875 × 600 + 0.125 × 200 = 550
  assert.equal(r.smoothedMs, 550);
  assert.equal(r.rtoMs, 1850);
  for (let i = 0; i < 100; i++) r.sample(2);
  assert.equal(r.rtoMs, 1000, 'a fast network never goes below the configured timeout');
  for (let i = 0; i < 5; i++) r.sample(5000);
  assert.equal(r.rtoMs, 4000, 'nor a slow one above the ceiling');
  r.sample(NaN);
  r.sample(-1);
  assert.equal(r.rtoMs, 4000, 'nonsense samples are ignored');
  assert.throws(() => new RttEstimator(0, 10), RangeError);
  assert.throws(() => new RttEstimator(100, 10), RangeError);
});

test('Karn: a retransmission doubles the timeout (to the ceiling) until a first-send answer is measured', () => {
  const r = new RttEstimator(1000, 4000);
  r.backOff();
  assert.equal(r.rtoMs, 2000);
  r.backOff();
  r.backOff();
  assert.equal(r.rtoMs, 4000);
  r.sample(100);
  assert.equal(r.rtoMs, 1000, 'measured again: back to SRTT + 4·RTTVAR (here the floor)');
});

test('an engine whose peer answers in 1.5 s: one retransmission, then the timeout covers the round trip and nothing more is retransmitted', () => {
  const sim = new Sim();
  sim.latency = 750; // each way
  const child = { mode: 'transport' as const, localTs: ['dynamic'], remoteTs: ['dynamic'] };
  const timers = { retransmit: { timeoutMs: 1000, base: 2, tries: 6 } };
  const a = sim.add('a', '192.0.2.1', [conn('c1', '192.0.2.1', '192.0.2.2', {}, child), conn('c2', '192.0.2.1', '192.0.2.3', {}, child)], pskAuth('s', 'a.example', 'b.example'), { timers });
  sim.add('b', '192.0.2.2', [conn('c1', '192.0.2.2', '192.0.2.1', {}, child)], pskAuth('s', 'b.example', 'a.example'), { timers });
  sim.add('c', '192.0.2.3', [conn('c2', '192.0.2.3', '192.0.2.1', {}, child)], pskAuth('s', 'b.example', 'a.example'), { timers });
  a.engine.initiate('c1');
  sim.advance(10_000);
  assert.equal(a.ikeUps().length, 1);
  // IKE_SA_INIT waited 1 s (the floor) for a 1.5 s round trip: retransmitted once, the timeout
  // doubled; IKE_AUTH then went unretransmitted and measured 1.5 s.
  assert.equal(a.engine.counters.retransmits, 1);
  const s1 = a.engine.status().counters;
  assert.equal(s1['srttMs'], 1500);
  assert.equal(s1['rtoMs'], 4000); // 1500 + 4 × 750, at the ceiling
  a.engine.initiate('c2');
  sim.advance(10_000);
  assert.equal(a.ikeUps().length, 2);
  assert.equal(a.engine.counters.retransmits, 1, 'the second peer, as slow, needed no retransmission');
});

test('a longer first timeout spaces the tries but does not delay giving up: a dead peer is abandoned when the configured schedule ends', () => {
  const sim = new Sim();
  sim.latency = 750;
  const child = { mode: 'transport' as const, localTs: ['dynamic'], remoteTs: ['dynamic'] };
  const timers = { retransmit: { timeoutMs: 1000, base: 2, tries: 6 } }; // 1 + 2 + … + 64 = 127 s to give up
  const a = sim.add('a', '192.0.2.1', [conn('c1', '192.0.2.1', '192.0.2.2', {}, child), conn('c2', '192.0.2.1', '192.0.2.3', {}, child)], pskAuth('s', 'a.example', 'b.example'), { timers });
  sim.add('b', '192.0.2.2', [conn('c1', '192.0.2.2', '192.0.2.1', {}, child)], pskAuth('s', 'b.example', 'a.example'), { timers });
  a.engine.initiate('c1');
  sim.advance(10_000);
  assert.equal(a.engine.status().counters['rtoMs'], 4000, 'a slow peer took the timeout to its ceiling');
  const sends: number[] = [];
  sim.drop = (p) => {
    if (p.to.address !== '192.0.2.3') return false;
    sends.push(sim.now);
    return true; // nobody there
  };
  const t0 = sim.now;
  a.engine.initiate('c2');
  sim.advance(600_000);
  const down = a.ikeDowns().find((d) => d.name === 'c2');
  assert.ok(down, 'given up');
  const after = a.timeOf(down)! - t0;
  assert.ok(after >= 127_000 && after <= 128_000, `gave up after ${after} ms, as the 1 s schedule would`);
  // The tries left at 0, 4, 12, 28, 60, 124 s (4 s doubling; seen here 0.75 s later, on arrival),
  // and the wait after the last ends with the schedule at 127 s, not at 252 s.
  assert.deepEqual(sends.map((t) => Math.round((t - t0 - 750) / 1000)), [0, 4, 12, 28, 60, 124]);
});
