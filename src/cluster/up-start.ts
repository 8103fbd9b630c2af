import { availableParallelism } from 'node:os';
import { forEachLimited } from '../util/limited.js';
import type { NodePlan } from './topology.js';
import type { DaemonRecord } from './state.js';
import type { NodeDaemonDriver } from './up-nodes.js';
import type { Progress } from './up-progress.js';
import { setNice } from './up-processes.js';

/**
 * `up`'s node daemons, started side by side: a daemon's start is mostly Node loading its modules,
 * so a few at a time keep both cores busy without a hundred processes fighting over them.
 *
 * On one machine the daemons already running negotiate with each other while the next ones start:
 * at 100 nodes they kept both cores busy, and an agent started at an equal share of the CPU took
 * 10–15 s to register (a real node has its own CPU). So a daemon starts at a higher priority
 * (STARTING_NICE) and goes back to the normal one once its data path runs: the start-up work of
 * the nodes still to come goes first, the mesh's IKE work fills the rest.
 */

/** Niceness of a daemon from its start until its data path runs (the operator keeps it). */
export const STARTING_NICE = -10;
/** Niceness of a daemon whose data path runs. */
export const RUNNING_NICE = 0;

/** Daemons starting at once: twice the cores (start-up waits on files and the operator too), 2..8. */
export function startConcurrency(cores = availableParallelism()): number {
  return Math.max(2, Math.min(8, cores * 2));
}

/** How long a daemon may take to register, and then to get its data path running: 60 s, plus 1 s per node. */
export function readyTimeoutMs(nodes: number): number {
  return 60_000 + nodes * 1000;
}

/** How often `up` looks whether a daemon it started has registered (a few are in flight). */
export const REGISTER_POLL_MS = 100;

/** How often `up` looks at each registered daemon until it runs: 0.1 s, 10 ms more per node, at most every second. */
export function startPollMs(nodes: number): number {
  return Math.min(1000, 100 + 10 * nodes);
}

export interface StartOptions {
  /** Sets a daemon's niceness (tests observe it); false when not allowed. */
  setNice?: (pid: number, nice: number) => boolean;
}

/**
 * Starts a daemon per node and waits until every data path runs. `onStarted` records each daemon
 * as soon as it is known (so a crash half-way is cleaned up); it is called one at a time. Each
 * daemon's wait for its data path begins as soon as it has registered; the first failure stops
 * further starts.
 */
export async function startNodeDaemons(
  nodes: readonly NodePlan[],
  driver: NodeDaemonDriver,
  progress: Progress,
  onStarted: (d: DaemonRecord) => Promise<void>,
  o: StartOptions = {},
): Promise<Map<string, DaemonRecord>> {
  const total = nodes.length;
  const nice = o.setNice ?? setNice;
  const timeoutMs = readyTimeoutMs(total);
  await driver.prepare?.(nodes);
  const records = new Map<string, DaemonRecord>();
  const pending = new Set(nodes.map((n) => n.name));
  const phases = new Map<string, string>();
  let starting = 0;
  const show = (): void => {
    const counts = new Map<string, number>();
    for (const name of pending) {
      const phase = records.has(name) ? phases.get(name) ?? 'registered' : 'not started';
      counts.set(phase, (counts.get(phase) ?? 0) + 1);
    }
    const waiting = [...counts].sort((a, b) => b[1] - a[1]).map(([phase, c]) => `${c} ${phase}`).join(', ');
    progress.update(`${total - pending.size}/${total} running, ${records.size} started, ${starting} starting${waiting ? `; ${waiting}` : ''}`);
  };

  let recording = Promise.resolve();
  let failure: { err: unknown } | undefined;
  const readies: Promise<void>[] = [];
  await forEachLimited(nodes, driver.startConcurrency ?? startConcurrency(), async (n) => {
    if (failure) throw failure.err;
    starting++;
    show();
    const d = await driver.start(n, { nice: STARTING_NICE, timeoutMs, intervalMs: REGISTER_POLL_MS }).finally(() => starting--);
    records.set(n.name, d);
    recording = recording.then(() => onStarted(d));
    await recording;
    show();
    const ready = driver.ready(n, d, timeoutMs, startPollMs(total), (phase) => {
      if (phases.get(n.name) === phase) return;
      phases.set(n.name, phase);
      show();
    }).then(() => {
      nice(d.pid, RUNNING_NICE);
      pending.delete(n.name);
      show();
    }, (err: unknown) => {
      failure ??= { err };
      throw err;
    });
    ready.catch(() => {}); // awaited below; a failure meanwhile stops further starts
    readies.push(ready);
  });
  await Promise.all(readies);
  return records;
}
