import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contentHash, desiredState, type AgentSelf } from '../../src/agent/desired.js';
import type { NetworkDoc, NodeDoc, SubnetDoc } from '../../src/store/documents.js';

const T = '2026-01-01T00:00:00.000Z';
const network: NetworkDoc = {
  clusterNetwork: [{ cidr: '10.254.0.0/16', hostPrefix: 24 }], serviceNetwork: ['172.30.0.0/16'], machineNetwork: [], mtu: 1400, genevePort: 6081,
  ipsec: { mode: 'Full', encapsulation: 'Always' }, sources: [], installed_at: T,
};
const node = (name: string, systemId: string, ip?: string): NodeDoc => ({ name, system_id: systemId, registered_at: T, trusted_ca: [], ...(ip ? { underlay_ip: ip } : {}) });
const subnet = (cidr: string, n: string): SubnetDoc => ({ cidr, node: n, allocated_at: T });
const self: AgentSelf = { node: 'master0', systemId: '2dc40cb7-845e-4326-9d1d-340f9961d76c', underlay: '192.168.7.21' };

test('desired state: own subnet, VNI and gateway; one peer per ready node; the others wait with a reason', () => {
  const nodes = [
    node('master0', self.systemId, '192.168.7.21'),
    node('master1', '91fa72aa-0000-4000-8000-000000000002', '192.168.7.22'),
    node('worker0', 'ab2a7cc3-15a3-420b-a81f-d066c38b1c02', '192.168.7.11'),
    node('worker1', '9469f8aa-0000-4000-8000-000000000004'),
  ];
  const subnets = [subnet('10.254.0.0/24', 'master0'), subnet('10.254.1.0/24', 'master1'), subnet('10.254.4.0/24', 'worker1')];
  const d = desiredState(self, network, nodes, subnets);
  assert.deepEqual(d.local, { node: 'master0', systemId: self.systemId, underlay: '192.168.7.21', subnet: '10.254.0.0/24', vni: 1 });
  assert.equal(d.gateway, '10.254.0.1');
  assert.equal(d.ipsec, true);
  assert.deepEqual(d.peers, [{ node: 'master1', systemId: '91fa72aa-0000-4000-8000-000000000002', underlay: '192.168.7.22', subnet: '10.254.1.0/24', vni: 2 }]);
  assert.deepEqual(d.waiting, [
    { node: 'worker0', reason: 'no subnet allocated yet' },
    { node: 'worker1', reason: 'no underlay address registered yet' },
  ]);
});

test('desired state: no subnet yet means no local spec; External and Disabled leave pod traffic unprotected', () => {
  assert.equal(desiredState(self, network, [node('master0', self.systemId, '192.168.7.21')], []).local, undefined);
  for (const mode of ['External', 'Disabled'] as const) {
    assert.equal(desiredState(self, { ...network, ipsec: { mode, encapsulation: 'Always' } }, [], []).ipsec, false);
  }
});

test('desired state: a node claiming our system-id or a subnet outside the cluster network is not a peer', () => {
  const d = desiredState(self, network, [node('impostor', self.systemId, '192.168.7.99'), node('odd', '11111111-0000-4000-8000-000000000000', '192.168.7.30')], [subnet('10.99.0.0/24', 'odd')]);
  assert.deepEqual(d.peers, []);
  assert.deepEqual(d.waiting.map((w) => w.node), ['impostor', 'odd']);
});

test('content hash: by content, independent of key order; buffers by bytes', () => {
  assert.equal(contentHash({ a: 1, b: [1, { c: 'x' }] }), contentHash({ b: [1, { c: 'x' }], a: 1 }));
  assert.notEqual(contentHash({ a: 1 }), contentHash({ a: 2 }));
  assert.equal(contentHash({ k: Buffer.from('pem') }), contentHash({ k: Buffer.from('pem') }));
  assert.notEqual(contentHash({ k: Buffer.from('pem') }), contentHash({ k: Buffer.from('PEM') }));
});
