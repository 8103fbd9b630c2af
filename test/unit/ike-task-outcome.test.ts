import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conn, pskAuth, Sim, type Node } from './ike-sim.js';

const A = '192.0.2.1';
const B = '192.0.2.2';

/** a initiates to b and a second passes; `aWants`: the identity a requires of b (b is b.example). */
function initiated(aWants: string): { sim: Sim; a: Node; b: Node } {
  const sim = new Sim();
  const nodes = [
    sim.add('a', A, [conn('site', A, B)], pskAuth('secret', 'a.example', aWants)),
    sim.add('b', B, [conn('site', B, A, {}, { localTs: ['10.2.0.0/24'], remoteTs: ['10.1.0.0/24'] })], pskAuth('secret', 'b.example', 'a.example')),
  ] as const;
  nodes[0].engine.initiate('site');
  sim.advance(1000);
  return { sim, a: nodes[0], b: nodes[1] };
}

test('a destroy outcome with a farewell: the initiator that cannot verify the responder tells it once (§2.21.2), and both SAs are gone', () => {
  // a expects another identity than the one b presents: b accepts a, a refuses b.
  const { sim, a, b } = initiated('c.example');
  const [down] = a.ikeDowns();
  assert.deepEqual([down?.reason, down?.established], ['AUTHENTICATION_FAILED', false]);
  assert.equal(b.ikeUps().length, 1, 'b had accepted a');
  assert.equal(b.ikeDowns()[0]?.reason, 'AUTHENTICATION_FAILED', 'b closed on the farewell, not on a timeout');
  assert.ok(b.timeOf(b.ikeDowns()[0]!)! < 100);
  assert.deepEqual(a.engine.sas(), []);
  assert.deepEqual(b.engine.sas(), []);
  // The farewell is not awaited: no retransmission of it, no deadline left.
  sim.advance(60_000);
  assert.equal(a.logs.filter((l) => l.includes('retransmitting')).length, 0);
  assert.equal(a.engine.nextDeadline(), undefined);
  assert.equal(a.engine.counters.internalErrors + b.engine.counters.internalErrors, 0);
});

test('a next outcome after IKE_AUTH: the connection\'s other children are created on the new SA, in order', () => {
  const sim = new Sim();
  const two = (local: string, remote: string, lts: string, rts: string) => conn('site', local, remote, {
    children: [
      { name: 'one', mode: 'tunnel', localTs: [lts], remoteTs: [rts], espProposals: ['aes256gcm16'] },
      { name: 'two', mode: 'tunnel', localTs: [lts.replace('.0.0/24', '.9.0/24')], remoteTs: [rts.replace('.0.0/24', '.9.0/24')], espProposals: ['aes256gcm16'] },
      { name: 'later', mode: 'tunnel', localTs: [lts], remoteTs: [rts], espProposals: ['aes256gcm16'], startAction: 'none' },
    ],
  });
  const a = sim.add('a', A, [two(A, B, '10.1.0.0/24', '10.2.0.0/24')], pskAuth('secret', 'a.example', 'b.example'));
  const b = sim.add('b', B, [two(B, A, '10.2.0.0/24', '10.1.0.0/24')], pskAuth('secret', 'b.example', 'a.example'));
  a.engine.initiate('site');
  sim.advance(1000);
  assert.deepEqual(a.childUps().map((c) => c.child), ['one', 'two'], 'start_action none is not started');
  assert.deepEqual(b.childUps().map((c) => c.child), ['one', 'two']);
  assert.equal(a.engine.createChild('site', 'later'), true);
  sim.advance(1000);
  assert.deepEqual(a.childUps().map((c) => c.child), ['one', 'two', 'later']);
});

test('a CHILD DELETE whose answer was lost when the peer rekeyed and deleted the IKE SA goes again on the new IKE SA', () => {
  const { sim, a, b } = initiated('b.example');
  // b deletes the child; a's answer is lost; before b retransmits (4 s), a rekeys the IKE SA and
  // deletes the old one, taking b's unanswered request with it.
  let lost = 0;
  sim.drop = (p) => p.from.address === A && lost++ === 0;
  b.engine.terminate('site', 'pods');
  sim.advance(50);
  assert.equal(lost, 1);
  assert.equal(a.liveChildren().length, 0, 'a dropped the child on the DELETE');
  assert.equal(b.liveChildren().length, 1, 'b has no answer yet');
  a.engine.rekeyIke('site');
  sim.advance(1000);
  assert.equal(b.ikeDowns().length, 1, 'the old IKE SA is gone on b');
  assert.equal(b.liveChildren().length, 0, 'the DELETE went again on the new IKE SA and the child is gone on b too');
  assert.equal(b.engine.sas()[0]?.children.length, 0);
  assert.equal(a.engine.counters.internalErrors + b.engine.counters.internalErrors, 0);
});
