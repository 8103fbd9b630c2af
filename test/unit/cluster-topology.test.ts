import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { planTopology, addNodeToPlan, removeNodeFromPlan, describePods, overlayRoutes, TopologyError } from '../../src/cluster/topology.js';
import { saveTopology, loadTopology } from '../../src/cluster/topology-file.js';
import { nodeOverlayConfig } from '../helpers/topology-overlay.js';
import { IFNAME_MAX, checkPrefix, underlayPortName, ownsNamespace } from '../../src/cluster/names.js';
import { parseNodeOverlayConfig } from '../../src/overlay/node-config.js';

test("the default plan is the seed's cluster", () => {
  const plan = planTopology();
  assert.equal(plan.prefix, 'oi');
  assert.equal(plan.clusterNetwork, '10.254.0.0/16');
  assert.equal(plan.hostPrefix, 24);
  assert.equal(plan.mtu, 1400);
  assert.deepEqual(plan.underlay, { netns: 'oi-underlay', bridge: 'br-underlay', network: '192.168.7.0/24', mtu: 1546 });
  assert.deepEqual(plan.nodes.map((n) => [n.name, n.role, n.netns, n.underlayCidr, n.subnet, n.vni]), [
    ['master0', 'master', 'oi-master0', '192.168.7.21/24', '10.254.0.0/24', 1],
    ['master1', 'master', 'oi-master1', '192.168.7.22/24', '10.254.1.0/24', 2],
    ['master2', 'master', 'oi-master2', '192.168.7.23/24', '10.254.2.0/24', 3],
    // The seed's worker0 (192.168.7.11) has ovn-k8s-mp0 10.254.3.2: its subnet is 10.254.3.0/24.
    ['worker0', 'worker', 'oi-worker0', '192.168.7.11/24', '10.254.3.0/24', 4],
    ['worker1', 'worker', 'oi-worker1', '192.168.7.12/24', '10.254.4.0/24', 5],
  ]);
  const w0 = plan.nodes[3]!;
  assert.equal(w0.gatewayCidr, '10.254.3.1/24');
  assert.deepEqual(w0.pods.map((p) => [p.name, p.netns, p.cidr, p.gateway, p.nodeIf]), [
    ['worker0-pod0', 'oi-worker0-pod0', '10.254.3.2/24', '10.254.3.1', 'pod0'],
    ['worker0-pod1', 'oi-worker0-pod1', '10.254.3.3/24', '10.254.3.1', 'pod1'],
  ]);
  assert.deepEqual(overlayRoutes(plan, w0), [{ dst: '10.254.0.0/16', src: '10.254.3.1' }]);
});

test('pods description is what `overlay-ipsec pods --json` prints, and survives a save/load', async () => {
  const plan = planTopology({ masters: 1, workers: 1, podsPerNode: 1, prefix: 'oit-cl' });
  assert.deepEqual(describePods(plan), [
    { name: 'master0-pod0', node: 'master0', ip: '10.254.0.2', netns: 'oit-cl-master0-pod0' },
    { name: 'worker0-pod0', node: 'worker0', ip: '10.254.1.2', netns: 'oit-cl-worker0-pod0' },
  ]);
  const dir = mkdtempSync(path.join(tmpdir(), 'oit-cl-'));
  try {
    const file = path.join(dir, 'state', 'topology.json');
    await saveTopology(file, plan);
    const d = await loadTopology(file);
    assert.deepEqual(d.plan, plan);
    assert.deepEqual(d.pods, describePods(plan));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('options: counts, MTUs, networks, operator-given subnets', () => {
  const plan = planTopology({ masters: 1, workers: 3, podsPerNode: 3, mtu: 1300, clusterNetwork: '10.128.0.0/14', hostPrefix: 23,
    subnets: { worker1: '10.128.8.0/23' } });
  assert.equal(plan.underlay.mtu, 1446);
  assert.deepEqual(plan.nodes.map((n) => n.subnet), ['10.128.0.0/23', '10.128.2.0/23', '10.128.8.0/23', '10.128.4.0/23']);
  assert.deepEqual(plan.nodes.map((n) => n.vni), [1, 2, 5, 3]);
  assert.equal(plan.nodes[0]!.pods.length, 3);
  assert.equal(planTopology({ underlayMtu: 9000 }).underlay.mtu, 9000);
});

test('many workers do not collide with the masters\' addresses', () => {
  const plan = planTopology({ masters: 3, workers: 14, podsPerNode: 0 });
  const ips = plan.nodes.map((n) => n.underlayIp);
  assert.equal(new Set(ips).size, ips.length);
  assert.equal(plan.nodes.find((n) => n.name === 'worker9')!.underlayIp, '192.168.7.20');
  assert.equal(plan.nodes.find((n) => n.name === 'worker10')!.underlayIp, '192.168.7.24', 'skips .21-.23 (the masters)');
});

test('bad options name the key and the problem', () => {
  const bad: Array<[Parameters<typeof planTopology>[0], RegExp]> = [
    [{ mtu: 1400, underlayMtu: 1500 }, /^underlayMtu: 1500 cannot carry pod MTU 1400 \(needs ≥ 1546/],
    [{ prefix: 'OI' }, /^prefix: /],
    [{ prefix: 'oi-' }, /^prefix: /],
    [{ clusterNetwork: '10.254.0.1/16' }, /^clusterNetwork: .*host bits.*use 10\.254\.0\.0\/16/],
    [{ hostPrefix: 8 }, /^hostPrefix: /],
    [{ masters: 0, workers: 0 }, /^masters: a cluster needs at least one node/],
    [{ underlayNetwork: '10.254.7.0/24' }, /^underlayNetwork: .*overlaps the cluster network/],
    [{ subnets: { master0: '10.254.0.0/25' } }, /^subnets\.master0: .* is not a \/24 inside 10\.254\.0\.0\/16/],
    [{ subnets: { master0: '10.254.9.0/24', master1: '10.254.9.0/24' } }, /^subnets\.master1: 10\.254\.9\.0\/24 is already master0's/],
    [{ clusterNetwork: '10.254.0.0/23', masters: 3 }, /^clusterNetwork: 10\.254\.0\.0\/23 has no free \/24 left for master2/],
    [{ podsPerNode: 254, hostPrefix: 24 }, /^podsPerNode: /],
    [{ tunName: 'much-too-long-name' }, /^tunName: /],
  ];
  for (const [opts, re] of bad) {
    assert.throws(() => planTopology(opts), (e: unknown) => e instanceof TopologyError && re.test(e.message), `${JSON.stringify(opts)} → ${re}`);
  }
});

test('a sixth node joins (next free address and subnet) and leaves', () => {
  const plan = planTopology();
  const n = addNodeToPlan(plan, { name: 'worker2', role: 'worker', pods: 2 });
  assert.deepEqual([n.underlayIp, n.subnet, n.vni, n.netns, n.pods[1]!.ip], ['192.168.7.13', '10.254.5.0/24', 6, 'oi-worker2', '10.254.5.3']);
  assert.throws(() => addNodeToPlan(plan, { name: 'worker2', role: 'worker', pods: 0 }), /already in the cluster/);
  assert.equal(removeNodeFromPlan(plan, 'master1')?.name, 'master1');
  assert.equal(removeNodeFromPlan(plan, 'master1'), undefined);
  const again = addNodeToPlan(plan, { name: 'master3', role: 'master', pods: 0 });
  assert.deepEqual([again.underlayIp, again.subnet], ['192.168.7.22', '10.254.1.0/24'], 'freed address and subnet are reused');
});

test('names: interface names fit 15 characters, prefixes are checked, ownership by prefix', () => {
  assert.equal(underlayPortName('master0'), 'u-master0');
  const long = underlayPortName('averyveryverylongnodename1');
  assert.ok(long.length <= IFNAME_MAX, long);
  assert.notEqual(long, underlayPortName('averyveryverylongnodename2'));
  assert.throws(() => checkPrefix(''));
  assert.ok(ownsNamespace('oi', 'oi-master0'));
  assert.ok(!ownsNamespace('oi', 'oit-cl-master0'), "the product's prefix never claims a test's namespaces");
});

test('overlay config per node: full mesh, valid for the node runner', () => {
  const plan = planTopology();
  const ids = Object.fromEntries(plan.nodes.map((n, i) => [n.name, `${(0xa00000 + i).toString(16)}00-0000-4000-8000-000000000000`]));
  const cfg = nodeOverlayConfig(plan, plan.nodes[3]!, ids);
  const parsed = parseNodeOverlayConfig(JSON.parse(JSON.stringify(cfg)), 'worker0.json');
  assert.equal(parsed.local.underlay, '192.168.7.11');
  assert.equal(parsed.peers.length, 4);
  assert.deepEqual(parsed.peers.map((p) => p.vni), [1, 2, 3, 5]);
  assert.equal(parsed.underlayMtu, 1546);
  assert.equal(parsed.mtu, 1400);
  assert.throws(() => parseNodeOverlayConfig({ ...cfg, local: { ...cfg.local, subnet: '10.254.3.1/24' } }, 'w.json'), /w\.json: local\.subnet: not a CIDR/);
  assert.throws(() => nodeOverlayConfig(plan, plan.nodes[0]!, {}), /no system-id for node master0/);
});

test('node overlay config: a pod MTU that cannot fit the underlay once encapsulated is refused', () => {
  const plan = planTopology({ masters: 1, workers: 1 });
  const ids = { master0: 'aaaaaa00', worker0: 'bbbbbb00' };
  const cfg = nodeOverlayConfig(plan, plan.nodes[0]!, ids);
  assert.equal(parseNodeOverlayConfig({ ...cfg, underlayMtu: 1458 }, 'n.json').underlayMtu, 1458, '1400 + 58 fits exactly');
  assert.throws(() => parseNodeOverlayConfig({ ...cfg, underlayMtu: 1457 }, 'n.json'),
    /n\.json: mtu: 1400 \+ 58 bytes of Geneve encapsulation exceeds underlayMtu 1457 \(lower mtu to 1399 or raise underlayMtu\)/);
});
