import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSummary, type ClusterSummary } from '../../src/cluster/up.js';
import type { NodeTunnelState } from '../../src/cluster/up-nodes.js';

function summary(tunnels: NodeTunnelState[]): ClusterSummary {
  return {
    ipsec: true,
    daemon: 'agent',
    nodes: tunnels.map((t, i) => ({ name: t.node, role: 'worker', underlay_ip: `192.168.7.${10 + i}`, subnet: `10.128.${i}.0/23`, system_id: `id-${i}`, netns: `oi-${t.node}` })),
    tunnels,
    pods: tunnels.length,
    pod_checks: [],
    warnings: [],
  };
}
const tunnel = (node: string, controlPlane?: NodeTunnelState['controlPlane']): NodeTunnelState => ({
  node, tunnels: 2, established: 2, childSas: 4, ikeSas: 2, ...(controlPlane ? { controlPlane } : {}),
});

test('the up summary names the nodes that lost the control plane, and when', () => {
  const since = '2026-12-07T17:00:00.000Z';
  const text = formatSummary(summary([
    tunnel('worker0', { state: 'connected', since }),
    tunnel('worker1', { state: 'unreachable', since }),
    tunnel('worker2', { state: 'connected', since, liveness: 'lost' }),
  ]), '/tmp/x');
  assert.match(text, /control plane LOST on 2\/3 nodes: worker1 \(unreachable since 2026-12-07T17:00:00\.000Z\), worker2 \(liveness lease lost\); their tunnels stay up/);
});

test('the up summary says every node reaches the store when all do, and nothing when no node reports', () => {
  const since = '2026-12-07T17:00:00.000Z';
  assert.match(formatSummary(summary([tunnel('a', { state: 'connected', since }), tunnel('b', { state: 'connected', since, liveness: 'held' })]), '/tmp/x'), /control plane: all 2 nodes reach the store/);
  assert.doesNotMatch(formatSummary(summary([tunnel('a'), tunnel('b')]), '/tmp/x'), /control plane/);
});
