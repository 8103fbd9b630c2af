import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planConnection } from '../../src/agent/planner.js';
import { DEFAULT_PLAN_TIMING, type ConnMemory, type DesiredConnection, type ObservedSa, type PlanInput } from '../../src/agent/plan.js';
import { connectionFor } from '../../src/agent/connections.js';

// The planner as a function: its timers (grace, settle, child retry) come back as rechecks, and
// only an initiation started again after one of ours came to nothing counts as a failure.

const self = { node: 'a', systemId: '111111-a', underlay: '192.0.2.1' };
const peer = { node: 'b', systemId: '222222-b', underlay: '192.0.2.2', subnet: '10.244.1.0/24', vni: 1 };
const config = connectionFor(self, peer, 6081);
const desired = (over: Partial<DesiredConnection> = {}): DesiredConnection => ({
  name: config.name, config, hash: 'h1', peerNode: 'b', peerSystemId: '222222-b', peerAddress: peer.underlay, initiator: true, peerCert: 's1', ...over,
});
const input = (over: Partial<PlanInput>): PlanInput => ({
  name: config.name, desired: desired(), memory: undefined, observed: [], credsEpoch: 0, unknownSpi: false, now: 1000, timing: DEFAULT_PLAN_TIMING, ...over,
});
const [inName, outName] = config.children.map((c) => c.name) as [string, string];
const sa = (serial: number, children: string[], state: ObservedSa['state'] = 'established'): ObservedSa => ({
  serial, state, children: children.map((name, i) => ({ name, serial: serial * 10 + i, spiIn: serial * 100 + i, state: 'installed', answered: false })),
});

test('a new connection: added, and the initiator initiates at once; the responder waits out its grace', () => {
  const p = planConnection(input({}));
  assert.deepEqual(p.actions.map((a) => a.kind), ['add-connection', 'initiate']);
  assert.equal(p.outcome, 'pending');
  const r = planConnection(input({ desired: desired({ initiator: false }) }));
  assert.deepEqual(r.actions.map((a) => a.kind), ['add-connection']);
  assert.equal(r.recheckInMs, 8000);
  const later = planConnection(input({ desired: desired({ initiator: false }), memory: r.memory, now: 9000 }));
  assert.deepEqual(later.actions.map((a) => a.kind), ['initiate']);
});

test('an initiation started again after ours came to nothing is a failure; an established SA is ok', () => {
  const first = planConnection(input({}));
  const again = planConnection(input({ memory: first.memory, now: 3000 }));
  assert.deepEqual(again.actions.map((a) => a.kind), ['initiate']);
  assert.equal(again.outcome, 'failed');
  const connecting = planConnection(input({ memory: again.memory, observed: [sa(1, [], 'connecting')], now: 3100 }));
  assert.deepEqual(connecting.actions, []);
  assert.equal(connecting.outcome, 'pending');
  const up = planConnection(input({ memory: connecting.memory, observed: [sa(1, [inName, outName])], now: 3200 }));
  assert.deepEqual(up.actions, []);
  assert.equal(up.outcome, 'ok');
  assert.equal(up.memory!.attemptSince, undefined);
});

test('a missing child is asked for after its grace, then every retry interval', () => {
  let m: ConnMemory | undefined = planConnection(input({})).memory;
  const look = (now: number) => {
    const p = planConnection(input({ memory: m, observed: [sa(1, [inName])], now }));
    m = p.memory;
    return p;
  };
  const p1 = look(2000);
  assert.deepEqual(p1.actions, []);
  assert.equal(p1.recheckInMs, 2000);
  const p2 = look(4000);
  assert.deepEqual(p2.actions, [{ kind: 'create-child', name: config.name, child: outName }]);
  assert.deepEqual(look(8000).actions, [], 'within the retry interval');
  assert.equal(look(14_000).actions.length, 1);
});

test('a deletion is asked for once, however often the planner looks', () => {
  const m = planConnection(input({})).memory!;
  const observed = [sa(1, [inName, outName]), sa(2, [inName, outName])];
  const p1 = planConnection(input({ memory: m, observed, now: 2000 }));
  assert.deepEqual(p1.actions, [{ kind: 'delete-ike-sa', name: config.name, serial: 1, reason: 'duplicate', keep: 2 }]);
  const p2 = planConnection(input({ memory: p1.memory, observed, now: 2100 }));
  assert.deepEqual(p2.actions, []);
});

test('a peer removed: its connection goes; a changed one is replaced and looked at again at once', () => {
  const m = planConnection(input({})).memory!;
  assert.deepEqual(planConnection(input({ desired: undefined, memory: m })).actions, [{ kind: 'remove-connection', name: config.name, peerNode: undefined, replaced: false }]);
  const changed = planConnection(input({ desired: desired({ hash: 'h2' }), memory: m }));
  assert.deepEqual(changed.actions.map((a) => a.kind), ['remove-connection']);
  assert.equal(changed.memory, undefined);
  assert.equal(changed.recheckInMs, 0);
});
