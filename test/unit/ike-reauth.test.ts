import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conn, pskAuth, Sim } from './ike-sim.js';

// Make-before-break re-authentication at the engine level: a second IKE SA for a connection next
// to the first (no INITIAL_CONTACT, so the peer keeps the first), children answered by the peer
// flagged, and deleteIkeSa that never cuts short a DELETE already on its way.

const A = '192.0.2.1';
const B = '192.0.2.2';

function pair() {
  const sim = new Sim();
  const a = sim.add('a', A, [conn('site', A, B)], pskAuth('secret', 'a.example', 'b.example'));
  const b = sim.add('b', B, [conn('site', B, A, undefined, { localTs: ['10.2.0.0/24'], remoteTs: ['10.1.0.0/24'] })], pskAuth('secret', 'b.example', 'a.example'));
  return { sim, a, b };
}

test('a second IKE SA next to the first; deleting the old one by serial, twice, waits for the DELETE answer', () => {
  const { sim, a, b } = pair();
  a.engine.initiate('site');
  sim.advance(1000);
  const first = a.engine.status().ike_sas[0]!;
  a.engine.initiate('site');
  sim.advance(1000);
  assert.equal(a.engine.status().ike_sas.length, 2, 'the old IKE SA stays while the new one comes up');
  assert.equal(b.engine.status().ike_sas.length, 2, 'no INITIAL_CONTACT: the peer keeps the old one too');
  assert.ok(!b.logs.some((l) => l.includes('INITIAL_CONTACT')));
  // Children: made by a (not answered), answered by b.
  assert.ok(a.engine.status().ike_sas.every((s) => s.children.every((c) => c.answered === false)));
  assert.ok(b.engine.status().ike_sas.every((s) => s.children.every((c) => c.answered === true)));
  // Hold the DELETE's answer back: a second deleteIkeSa must not destroy the SA meanwhile.
  let held = true;
  sim.drop = (p) => held && p.from.address === B;
  assert.equal(a.engine.deleteIkeSa(first.serial), true);
  sim.advance(10);
  assert.equal(a.engine.deleteIkeSa(first.serial), true);
  sim.advance(10);
  assert.equal(a.engine.status().ike_sas.find((s) => s.serial === first.serial)?.state, 'deleting', 'still deleting: its inbound SAs still accept');
  assert.equal(a.childDowns().length, 0, 'no child removed before the answer');
  held = false;
  // The peer destroyed the SA when it answered; the retransmitted DELETE finds nothing there,
  // so the SA goes when the retransmits give up: late, but never before its time.
  sim.advance(600_000);
  assert.deepEqual(a.engine.status().ike_sas.map((s) => s.serial).includes(first.serial), false);
  assert.equal(a.engine.status().ike_sas.length, 1);
  assert.equal(b.engine.status().ike_sas.length, 1);
  assert.equal(a.engine.deleteIkeSa(first.serial), false, 'gone');
});
