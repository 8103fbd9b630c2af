import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DesiredConnectionCache, desiredConnections } from '../../src/agent/desired-connections.js';
import { DEFAULT_TIMERS } from '../../src/agent/connections.js';
import type { AgentSelf } from '../../src/agent/desired.js';
import type { PeerSpec } from '../../src/overlay/peer-table.js';

const self: AgentSelf = { node: 'a', systemId: '00000000-0000-4000-8000-00000000000a', underlay: '192.0.2.1' };
const peer = (n: number, over: Partial<PeerSpec> = {}): PeerSpec => ({
  node: `w${n}`, systemId: `00000000-0000-4000-8000-0000000000${String(n).padStart(2, '0')}`, underlay: `192.0.2.${n + 10}`, subnet: `10.244.${n}.0/24`, vni: n + 1, ...over,
});

test('desired connections kept between passes: the same as built afresh, pass after pass, a changed peer rebuilt, a departed one forgotten', () => {
  const cache = new DesiredConnectionCache(self, DEFAULT_TIMERS);
  const certs = new Map([['w1', 'serial-1']]);
  const passes: { peers: PeerSpec[]; port: number }[] = [
    { peers: [peer(1), peer(2)], port: 6081 },
    { peers: [peer(1), peer(2), peer(3)], port: 6081 },
    { peers: [peer(1), peer(2, { underlay: '192.0.2.99' }), peer(3)], port: 6081 },
    { peers: [peer(1), peer(3)], port: 6081 },
    { peers: [peer(1), peer(3)], port: 7000 },
    { peers: [peer(1), peer(2), peer(3)], port: 7000 },
  ];
  let last: ReturnType<typeof cache.build> = [];
  for (const [i, p] of passes.entries()) {
    const got = cache.build(p.peers, p.port, certs);
    assert.deepEqual(got, desiredConnections(self, p.peers, p.port, DEFAULT_TIMERS, certs), `pass ${i}`);
    if (i === 2) {
      assert.notEqual(got[1]!.hash, last[1]!.hash, 'a peer whose underlay moved gets a new config');
      assert.equal(got[0]!.config, last[0]!.config, 'an unchanged peer keeps its config');
    }
    if (i === 4) assert.notEqual(got[0]!.hash, last[0]!.hash, 'another Geneve port is another config');
    last = got;
  }
});
