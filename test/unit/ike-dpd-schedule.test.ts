import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conn, pskAuth, Sim, type Packet } from './ike-sim.js';

// Liveness checks on an idle pair: the IKE SA's initiator checks after dpd_delay, the responder
// after 1.5 × dpd_delay, so one end asks and the other only answers (one exchange per pair per
// dpd_delay, not one from each end), and either end still finds the other dead.

const A = '192.0.2.1';
const B = '192.0.2.2';
const INFORMATIONAL = 37;
const RESPONSE = 0x20;

/** An INFORMATIONAL request (a liveness check when nothing else is going on), by sender. */
function isInformationalRequest(p: Packet): boolean {
  const off = p.bytes.length > 4 && p.bytes.readUInt32BE(0) === 0 ? 4 : 0; // non-ESP marker on 4500
  return p.bytes[off + 18] === INFORMATIONAL && (p.bytes[off + 19]! & RESPONSE) === 0;
}

function idlePair(dpdDelayMs: number) {
  const sim = new Sim();
  const a = sim.add('a', A, [conn('site', A, B, { dpdDelayMs })], pskAuth('secret', 'a.example', 'b.example'));
  const b = sim.add('b', B, [conn('site', B, A, { dpdDelayMs }, { localTs: ['10.2.0.0/24'], remoteTs: ['10.1.0.0/24'] })], pskAuth('secret', 'b.example', 'a.example'));
  a.engine.initiate('site');
  sim.advance(1000);
  assert.equal(a.liveChildren().length, 1);
  assert.equal(b.liveChildren().length, 1);
  return { sim, a, b };
}

test('DPD on an idle pair: only the initiator asks, once per dpd_delay; the responder answers and never asks', () => {
  const { sim } = idlePair(10_000);
  const t0 = sim.now;
  sim.advance(600_000);
  const requests = sim.delivered.filter((p) => p.at > t0 && isInformationalRequest(p));
  const fromA = requests.filter((p) => p.from.address === A);
  const fromB = requests.filter((p) => p.from.address === B);
  assert.equal(fromB.length, 0, 'the responder never needed to ask');
  assert.ok(fromA.length >= 58 && fromA.length <= 60, `the initiator asked ${fromA.length} times in 600 s`);
  const gaps = fromA.slice(1).map((p, i) => p.at - fromA[i]!.at);
  assert.ok(gaps.every((g) => g >= 10_000 && g < 10_100), `every ~10 s: ${gaps.slice(0, 5).join(', ')} …`);
});

test('DPD: a dead initiator is found by the responder, which asks 1.5 × dpd_delay after it last heard from it', () => {
  const { sim, a, b } = idlePair(10_000);
  const t0 = sim.now;
  sim.drop = (p) => p.from.address === A;
  sim.advance(300_000);
  const firstAsk = sim.delivered.find((p) => p.at > t0 && p.from.address === B && isInformationalRequest(p));
  assert.ok(firstAsk, 'the responder asked');
  const lastHeard = Math.max(...sim.delivered.filter((p) => p.from.address === A && p.at <= t0).map((p) => p.at));
  assert.ok(firstAsk.at - lastHeard >= 15_000 && firstAsk.at - lastHeard < 15_100, `asked ${firstAsk.at - lastHeard} ms after it last heard`);
  const down = b.ikeDowns();
  assert.equal(down.length, 1, 'the responder declared the initiator dead');
  assert.match(down[0]!.reason, /DPD/);
  assert.equal(a.ikeDowns().length, 1, 'and the cut-off initiator its silent peer');
});
