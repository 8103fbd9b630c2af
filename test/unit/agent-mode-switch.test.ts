import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModeSwitch } from '../../src/agent/mode-switch.js';
import { OnDemandWatch } from '../../src/agent/on-demand-watch.js';
import { PAIR_STATES, planPair, type PairMemory, type PeerReport, type WantedMode } from '../../src/agent/pair-mode.js';
import type { DataplaneDoc } from '../../src/store/documents.js';
import type { PeerSpec } from '../../src/overlay/peer-table.js';

// The node sync lists the peers' reports only while ModeSwitch.readsReports(); these check that a
// pass without them plans exactly what a pass with them would.

const reportsSeen: (PeerReport | undefined)[] = [undefined, ...PAIR_STATES.flatMap((state) => [{ state, spisIn: [] }, { state, spisIn: [0x1001, 0x1002] }])];

test('pair mode: a pair first seen, encrypted or plain steps the same whatever the peer reports', () => {
  for (const wanted of ['Full', 'Disabled'] as WantedMode[]) {
    for (const state of [undefined, 'encrypted', 'plain'] as const) {
      for (const spisOut of [undefined, [0x1001, 0x1002]]) {
        const memory = (): PairMemory | undefined => (state ? { state, since: 5, drainFrom: undefined } : undefined);
        const without = planPair({ wanted, memory: memory(), spisOut, peer: undefined, now: 10, drainMs: 1000 });
        for (const peer of reportsSeen) {
          assert.deepEqual(planPair({ wanted, memory: memory(), spisOut, peer, now: 10, drainMs: 1000 }), without, `${wanted}, ${state ?? 'first seen'}, peer ${JSON.stringify(peer)}`);
        }
      }
    }
  }
});

const peers: PeerSpec[] = ['b', 'c'].map((node, i) => ({ node, systemId: `s-${node}`, underlay: `192.0.2.${i + 2}`, subnet: `10.1.${i + 2}.0/24`, vni: i + 2 }));
const none = new Map<string, DataplaneDoc>();
const holds = { spisOut: [0x1001, 0x1002], spisIn: [0x2001, 0x2002] };

test('mode switch: reports are read only while some pair is between end states', () => {
  const m = new ModeSwitch(1000);
  assert.equal(m.readsReports(), false, 'no pairs yet');
  m.step('Full', peers, () => holds, none, 'a', 0);
  assert.deepEqual([...m.states().values()], ['encrypted', 'encrypted'], 'pairs first seen start strict');
  assert.equal(m.readsReports(), false);
  // Disabled: encrypted → opening needs no report, but opening → sending-plain does.
  m.step('Disabled', peers, () => holds, none, 'a', 10);
  assert.deepEqual([...m.states().values()], ['opening', 'opening']);
  assert.equal(m.readsReports(), true);
  assert.equal(m.switching(), true);
  // The peers accept plain, then stop sending ESP and the drain passes: every pair plain again.
  const report = (state: 'opening' | 'plain'): Map<string, DataplaneDoc> => new Map(peers.map((p) => [p.node, { node: p.node, wanted: 'Disabled', phase: 'disabling', peers: { a: { state, spis_in: [] } }, updated_at: '' }]));
  m.step('Disabled', peers, () => holds, report('opening'), 'a', 20);
  assert.deepEqual([...m.states().values()], ['sending-plain', 'sending-plain']);
  m.step('Disabled', peers, () => holds, report('plain'), 'a', 30);
  m.step('Disabled', peers, () => holds, report('plain'), 'a', 2000);
  assert.deepEqual([...m.states().values()], ['plain', 'plain']);
  assert.equal(m.readsReports(), false);
  assert.equal(m.switching(), false);
});

test('on-demand watch: started once while wanted, stopped once when not', () => {
  const calls: string[] = [];
  const w = new OnDemandWatch(() => {
    calls.push('start');
    return () => calls.push('stop');
  });
  w.want(false);
  assert.equal(w.running, false);
  w.want(true);
  w.want(true);
  assert.equal(w.running, true);
  w.want(false);
  w.want(false);
  w.want(true);
  assert.deepEqual(calls, ['start', 'stop', 'start']);
});
