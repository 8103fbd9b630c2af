import { OperationFailed } from '../util/errors.js';
import type { NodePlan } from './topology.js';
import type { DaemonRecord } from './state.js';
import type { NodeDaemonDriver, NodeTunnelState, PeerProblem } from './up-nodes.js';
import type { Progress } from './up-progress.js';

/**
 * `up` waiting for the full mesh: every node's tunnel to every other node up (with IPsec, an
 * established IKE SA and its child SAs). A full mesh is n·(n−1) tunnel ends and as many IKE
 * exchanges on one machine, so the wait grows with the cluster, and the agents are asked less
 * often the more there are (each question is answered with the node's whole SA table). The line
 * says how far it got and which nodes lag; when time is up, the summary says which pairs are
 * missing and why, in each node's own words, before anything is removed.
 */

/** Default wait for every tunnel: 90 s, or 3 s per node on clusters of more than 30 nodes. */
export function convergenceTimeoutS(nodes: number): number {
  return Math.max(90, 3 * nodes);
}

/** How often the agents are asked: every 0.5 s, 25 ms more per node, at most every 3 s. */
export function pollIntervalMs(nodes: number): number {
  return Math.min(3000, Math.max(500, 25 * nodes));
}

/** The progress line: tunnel ends up, child SAs, and the nodes furthest behind. */
export function tunnelProgress(tunnels: readonly NodeTunnelState[], want: number, ipsec: boolean): string {
  const up = tunnels.reduce((a, t) => a + Math.min(t.established, want), 0);
  const behind = tunnels.filter((t) => t.established < want).sort((a, b) => a.established - b.established || a.node.localeCompare(b.node));
  const lag = behind.length ? `; behind: ${behind.slice(0, 3).map((t) => `${t.node} ${t.established}/${want}`).join(', ')}${behind.length > 3 ? ` and ${behind.length - 3} more` : ''}` : '';
  return `${up}/${want * tunnels.length} tunnel ends up${ipsec ? `, ${tunnels.reduce((a, t) => a + t.childSas, 0)} child SAs` : ''}${lag}`;
}

export async function waitForMesh(
  nodes: readonly NodePlan[],
  driver: NodeDaemonDriver,
  records: ReadonlyMap<string, DaemonRecord>,
  o: { ipsec: boolean; timeoutS?: number; logs: string },
  progress: Progress,
): Promise<NodeTunnelState[]> {
  const want = nodes.length - 1;
  const timeoutS = o.timeoutS ?? convergenceTimeoutS(nodes.length);
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    const tunnels = (await Promise.all(nodes.map((n) => driver.tunnels(n, records.get(n.name)!))))
      .map((t, i) => t ?? { node: nodes[i]!.name, tunnels: 0, established: 0, childSas: 0, ikeSas: 0 });
    progress.update(tunnelProgress(tunnels, want, o.ipsec));
    const behind = tunnels.filter((t) => t.established < want);
    if (behind.length === 0) return tunnels;
    if (Date.now() > deadline) {
      const late = nodes.filter((n) => behind.some((t) => t.node === n.name));
      const problems = await missingPairs(late, nodes, driver);
      progress.fail(`not all up after ${timeoutS} s: ${behind.length} of ${nodes.length} nodes lack tunnels`);
      for (const line of formatMissing(problems)) progress.note(line);
      throw new OperationFailed(`tunnels did not come up within ${timeoutS} s (${behind.map((t) => `${t.node} ${t.established}/${want}`).slice(0, 10).join(', ')}${behind.length > 10 ? ', …' : ''}); the missing pairs and why are listed above; the logs are in ${o.logs}`);
    }
    await new Promise((r) => setTimeout(r, pollIntervalMs(nodes.length)));
  }
}

export interface MissingPair extends PeerProblem {
  node: string;
}

/** Each late node's missing peers, asked of its daemon (all at once; each answers for itself). */
async function missingPairs(late: readonly NodePlan[], all: readonly NodePlan[], driver: NodeDaemonDriver): Promise<MissingPair[]> {
  if (!driver.missingPeers) return late.map((n) => ({ node: n.name, peer: '*', reason: 'its daemon cannot say which peers' }));
  const lists = await Promise.all(late.map(async (n) => {
    try {
      return (await driver.missingPeers!(n, all.filter((p) => p !== n))).map((p) => ({ node: n.name, ...p }));
    } catch (err) {
      return [{ node: n.name, peer: '*', reason: `cannot ask its daemon: ${(err as Error).message}` }];
    }
  }));
  return lists.flat();
}

/** The summary: pairs grouped by reason, most common first, a few pairs named for each. */
export function formatMissing(pairs: readonly MissingPair[], perReason = 6): string[] {
  if (pairs.length === 0) return ['no missing pair found when asked (the last ones came up just now)'];
  const byReason = new Map<string, MissingPair[]>();
  for (const p of pairs) byReason.set(p.reason, [...(byReason.get(p.reason) ?? []), p]);
  const lines = [`missing tunnels (node → peer), by reason:`];
  for (const [reason, list] of [...byReason].sort((a, b) => b[1].length - a[1].length)) {
    const named = list.slice(0, perReason).map((p) => `${p.node} → ${p.peer}`).join(', ');
    lines.push(`  ${reason}: ${list.length} (${named}${list.length > perReason ? ', …' : ''})`);
  }
  return lines;
}
