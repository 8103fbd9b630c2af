import { describePods, type PodDescription } from './topology.js';
import type { ClusterState } from './state.js';

/** `overlay-ipsec pods`: the recorded cluster's pods, `[{"name","node","ip","netns"}]`, or a table. */
export function clusterPods(state: ClusterState): PodDescription[] {
  return describePods(state.plan);
}

export function formatPodsTable(pods: readonly PodDescription[]): string {
  const cols = ['NAME', 'NODE', 'IP', 'NETNS'] as const;
  const rows = pods.map((p) => [p.name, p.node, p.ip, p.netns]);
  const widths = cols.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: readonly string[]) => r.map((x, i) => (i === r.length - 1 ? x : x.padEnd(widths[i]!))).join('  ');
  return [line(cols), ...rows.map(line)].join('\n') + '\n';
}
