import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConnection } from '../../src/ike/config.js';
import type { IkeOutput } from '../../src/ike/events.js';
import { ChildSa } from '../../src/ike/sa/child-sa.js';
import { IkeSa } from '../../src/ike/sa/ike-sa.js';
import { checkTransition, ikeProposal } from '../../src/ike/sa/phase.js';
import { conn, pskAuth, Sim, type Node } from './ike-sim.js';

const A = '192.0.2.1';
const B = '192.0.2.2';

type StateEvent = Extract<IkeOutput, { kind: 'ike-state' }>;
const moves = (n: Node, serial?: number): string[] =>
  n.outputs.filter((o): o is StateEvent => o.kind === 'ike-state' && (serial === undefined || o.serial === serial)).map((o) => `${o.from}>${o.to}`);

function pair() {
  const sim = new Sim();
  const a = sim.add('a', A, [conn('site', A, B)], pskAuth('secret', 'a.example', 'b.example'));
  const b = sim.add('b', B, [conn('site', B, A, {}, { localTs: ['10.2.0.0/24'], remoteTs: ['10.1.0.0/24'] })], pskAuth('secret', 'b.example', 'a.example'));
  return { sim, a, b };
}

test('every IKE SA state change is reported, in order, with a log line: setup, rekey, delete', () => {
  const { sim, a, b } = pair();
  a.engine.initiate('site');
  sim.advance(1000);
  assert.deepEqual(moves(a), ['init-sent>authenticating', 'authenticating>established']);
  assert.deepEqual(moves(b), ['authenticating>established'], 'the responder starts keyed');
  assert.ok(a.logs.some((l) => /^"site" #1: IKE SA init-sent → authenticating \(IKE_SA_INIT answered\)$/.test(l)), a.logs.join('\n'));
  const first = a.engine.sas()[0]!.serial;
  a.engine.rekeyIke('site');
  sim.advance(1000);
  assert.deepEqual(moves(a, first).slice(2), ['established>rekeying', 'rekeying>established', 'established>rekeyed', 'rekeyed>deleting', 'deleting>closed']);
  const second = a.engine.sas()[0]!.serial;
  assert.deepEqual(moves(a, second), ['authenticating>established'], 'a rekey-made SA is taken into use once');
  a.engine.terminate('site');
  sim.advance(1000);
  assert.deepEqual(moves(a, second).slice(1), ['established>deleting', 'deleting>closed']);
  assert.deepEqual(moves(b).slice(-1), ['established>closed'], 'the peer closes on our DELETE');
  assert.equal(a.engine.counters.internalErrors + b.engine.counters.internalErrors, 0);
});

test('a failed IKE_AUTH closes the SA from authenticating', () => {
  const sim = new Sim();
  const a = sim.add('a', A, [conn('site', A, B)], pskAuth('secret', 'a.example', 'b.example'));
  sim.add('b', B, [conn('site', B, A)], pskAuth('wrong', 'b.example', 'a.example'));
  a.engine.initiate('site');
  sim.advance(1000);
  assert.deepEqual(moves(a), ['init-sent>authenticating', 'authenticating>closed']);
});

test('the phase diagram refuses moves it does not have', () => {
  assert.throws(() => checkTransition('closed', 'established'), /closed → established/);
  assert.throws(() => checkTransition('init-sent', 'established'), /not a valid transition/);
  assert.throws(() => checkTransition('rekeyed', 'established'));
  assert.throws(() => checkTransition('deleting', 'rekeying'));
  checkTransition('rekeying', 'established');
  checkTransition('authenticating', 'rekeyed');
});

test('a keyed state cannot be entered without keys; closing drops them', () => {
  const c = resolveConnection(conn('x', A, B));
  const sa = new IkeSa(1, c, true, Buffer.alloc(8, 1), { address: A, port: 500 }, { address: B, port: 500 }, 0, { state: 'init-sent' });
  const out: IkeOutput[] = [];
  assert.equal(sa.crypto, undefined);
  assert.equal(sa.isKeyed(), false);
  assert.throws(() => sa.transition('authenticating', 'no keys', (o) => out.push(o)), /no keys/);
  assert.equal(sa.state, 'init-sent');
  assert.equal(out.length, 0, 'nothing reported for a refused move');
  sa.transition('closed', 'gave up', (o) => out.push(o));
  assert.equal(sa.isClosed(), true);
  assert.deepEqual(out.map((o) => o.kind), ['log', 'ike-state']);
});

test('ikeProposal: an IKE negotiation without PRF or group is not an IKE proposal', () => {
  const encr = { id: 20, keyLength: 256 };
  assert.equal(ikeProposal({ protocol: 'ike', encr, prf: 5 }), undefined);
  assert.equal(ikeProposal({ protocol: 'ike', encr, dh: 14 }), undefined);
  assert.deepEqual(ikeProposal({ protocol: 'ike', encr, prf: 5, dh: 14 }), { protocol: 'ike', encr, prf: 5, dh: 14 });
});

test('CHILD SA states: a replaced or deleting child does not come back', () => {
  const cfg = resolveConnection(conn('x', A, B)).children[0]!;
  const child = new ChildSa(2, cfg, 0x1000, 0x2000, Buffer.alloc(36), Buffer.alloc(36), { protocol: 'esp', encr: { id: 20, keyLength: 256 } }, [], [], 'tunnel', 0);
  child.transition('rekeying');
  child.transition('installed');
  child.transition('rekeyed');
  assert.throws(() => child.transition('installed'), /rekeyed → installed/);
  child.transition('deleting');
  assert.throws(() => child.transition('rekeying'));
  assert.equal(child.state, 'deleting');
});
