import { readFile } from 'node:fs/promises';
import { teardownTopology, endProcesses } from './topology-netns.js';
import { pidAlive } from '../util/pid.js';
import { removeClusterFiles, tryLoadClusterState, type ClusterState } from './state.js';

/**
 * `overlay-ipsec down`: removes what `up` built — every namespace with the cluster's prefix and
 * every process inside them (operator, agents, pods' processes; their TUNs and sockets go with
 * them), any recorded daemon that somehow lives outside them, the foreground `up` if one is still
 * supervising, and the files `up` made in the state directory. Idempotent: with nothing there it
 * does nothing and succeeds. Also how `up` clears a crashed earlier run.
 */

export interface DownResult {
  prefix: string;
  namespaces: string[];
  /** Recorded processes that were still running outside the namespaces and were ended. */
  strays: number;
  hadState: boolean;
}

/** True when /proc says `pid` is still the process we started (guards against PID reuse): its argv holds `word` or `…/word.js`. */
export async function stillOurs(pid: number, word: string): Promise<boolean> {
  if (!pidAlive(pid)) return false;
  try {
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    return argv.some((a) => a === word || a.endsWith(`/${word}.js`));
  } catch {
    return false;
  }
}

/** The recorded cluster's processes that still run: its supervising `up` and its daemons. */
export async function runningParts(state: ClusterState): Promise<string[]> {
  const parts: string[] = [];
  if (state.supervisorPid && state.supervisorPid !== process.pid && (await stillOurs(state.supervisorPid, 'up'))) parts.push(`up (pid ${state.supervisorPid})`);
  for (const d of state.daemons) {
    if (await stillOurs(d.pid, d.role)) parts.push(`${d.role}${d.node ? ` ${d.node}` : ''} (pid ${d.pid})`);
  }
  return parts;
}

export async function clusterDown(stateDir: string, prefix: string, opts: { state?: ClusterState; selfPid?: number } = {}): Promise<DownResult> {
  const state = opts.state ?? (await tryLoadClusterState(stateDir));
  const p = state?.prefix ?? prefix;
  const namespaces = await teardownTopology(p);
  if (p !== prefix) namespaces.push(...(await teardownTopology(prefix)));

  let strays = 0;
  if (state) {
    const left: number[] = [];
    for (const d of state.daemons) if (await stillOurs(d.pid, d.role)) left.push(d.pid);
    strays = left.length;
    await endProcesses(left, 3000);
    // A foreground `up` still supervising (another terminal): it would tear down again on exit,
    // harmlessly, but it must not stay behind waiting for a Ctrl-C that will never come.
    const sup = state.supervisorPid;
    if (sup && sup !== (opts.selfPid ?? process.pid) && (await stillOurs(sup, 'up'))) {
      try {
        process.kill(sup, 'SIGTERM');
      } catch { /* gone */ }
    }
    await removeClusterFiles(stateDir, state.ownedPaths);
  } else {
    await removeClusterFiles(stateDir, []);
  }
  return { prefix: p, namespaces, strays, hadState: state !== undefined };
}
