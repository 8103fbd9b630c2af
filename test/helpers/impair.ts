import { sh } from './netns.js';
import type { TopologyPlan } from '../../src/cluster/topology.js';

// An impaired underlay for a two-node cluster, made with nftables inside the underlay namespace
// (this kernel has no sch_netem): on each node's bridge port, IKE and ESP (UDP 500/4500) coming
// from that node is dropped with probability `lossPct` and, with probability `dupPct`, also
// copied straight out of the other node's port (a duplicate). Counters say how many of each.

const TABLE = 'oif_impair';

export function impairUnderlay(plan: TopologyPlan, o: { lossPct: number; dupPct: number }): void {
  if (plan.nodes.length !== 2) throw new Error('impairUnderlay: duplicates are sent to "the other node": two nodes only');
  const ns = plan.underlay.netns;
  const [a, b] = plan.nodes as [TopologyPlan['nodes'][0], TopologyPlan['nodes'][0]];
  const rules = [`table netdev ${TABLE} {`];
  for (const [from, to] of [[a, b], [b, a]] as const) {
    rules.push(`  chain in_${from.name} {`,
      `    type filter hook ingress device "${from.underlayPort}" priority 0;`,
      `    ip protocol udp udp dport { 500, 4500 } numgen random mod 1000 < ${o.dupPct * 10} counter dup to "${to.underlayPort}"`,
      `    ip protocol udp udp dport { 500, 4500 } numgen random mod 1000 < ${o.lossPct * 10} counter drop`,
      '  }');
  }
  rules.push('}');
  sh(['ip', 'netns', 'exec', ns, 'nft', '-f', '-'], { input: rules.join('\n') + '\n' });
}

/** Packets duplicated and dropped so far, over both directions. */
export function impairCounters(plan: TopologyPlan): { duplicated: number; dropped: number } {
  const text = sh(['ip', 'netns', 'exec', plan.underlay.netns, 'nft', 'list', 'table', 'netdev', TABLE]).stdout;
  const out = { duplicated: 0, dropped: 0 };
  for (const line of text.split('\n')) {
    const m = /counter packets (\d+)/.exec(line);
    if (!m) continue;
    if (line.includes(' dup to ')) out.duplicated += Number(m[1]);
    else if (line.includes(' drop')) out.dropped += Number(m[1]);
  }
  return out;
}

export function clearImpairment(plan: TopologyPlan): void {
  sh(['ip', 'netns', 'exec', plan.underlay.netns, 'nft', 'delete', 'table', 'netdev', TABLE], { check: false });
}
