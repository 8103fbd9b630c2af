import { availableParallelism } from 'node:os';
import { forEachLimited } from '../util/limited.js';
import type { NodePlan } from './topology.js';
import type { DaemonRecord } from './state.js';
import type { NodeDaemonDriver } from './up-nodes.js';
import type { Progress } from './up-progress.js';

/**
 * `up`'s node daemons, started side by side: a daemon's start is mostly Node loading its modules,
 * so a few at a time keep both cores busy without a hundred processes fighting over them. How long
 * a daemon may take to get its data path running grows with the cluster, since they all enroll
 * with one operator and the machine is shared.
 */

/** Daemons starting at once: twice the cores (start-up waits on files and the operator too), 2..8. */
export function startConcurrency(cores = availableParallelism()): number {
  return Math.max(2, Math.min(8, cores * 2));
}

/** How long every daemon may take to run once all are started: 60 s, plus 1 s per node. */
export function readyTimeoutMs(nodes: number): number {
  return 60_000 + nodes * 1000;
}

/**
 * Starts a daemon per node and waits until every data path runs. `onStarted` records each daemon
 * as soon as it is known (so a crash half-way is cleaned up); it is called one at a time.
 */
export async function startNodeDaemons(
  nodes: readonly NodePlan[],
  driver: NodeDaemonDriver,
  progress: Progress,
  onStarted: (d: DaemonRecord) => Promise<void>,
): Promise<Map<string, DaemonRecord>> {
  const total = nodes.length;
  await driver.prepare?.(nodes);
  const records = new Map<string, DaemonRecord>();
  let starting = 0;
  let recording = Promise.resolve();
  await forEachLimited(nodes, driver.startConcurrency ?? startConcurrency(), async (n) => {
    starting++;
    progress.update(`${records.size}/${total} started, ${starting} starting`);
    const d = await driver.start(n);
    starting--;
    records.set(n.name, d);
    recording = recording.then(() => onStarted(d));
    await recording;
    progress.update(`${records.size}/${total} started, ${starting} starting`);
  });

  // Every data path comes up on its own; the line names the phases of those still on their way.
  const pending = new Set(nodes.map((n) => n.name));
  const phases = new Map<string, string>();
  const show = (): void => {
    const counts = new Map<string, number>();
    for (const name of pending) counts.set(phases.get(name) ?? 'starting', (counts.get(phases.get(name) ?? 'starting') ?? 0) + 1);
    const waiting = [...counts].sort((a, b) => b[1] - a[1]).map(([phase, c]) => `${c} ${phase}`).join(', ');
    progress.update(`${total - pending.size}/${total} running${waiting ? `; ${waiting}` : ''}`);
  };
  const watcher = driver.phase
    ? setInterval(() => void Promise.all([...pending].map(async (name) => {
      const p = await driver.phase!(nodes.find((x) => x.name === name)!);
      if (p) phases.set(name, p);
    })).then(show), 1000)
    : undefined;
  try {
    const timeoutMs = readyTimeoutMs(total);
    await Promise.all(nodes.map(async (n) => {
      await driver.ready(n, records.get(n.name)!, timeoutMs);
      pending.delete(n.name);
      show();
    }));
  } finally {
    clearInterval(watcher);
  }
  return records;
}
