import { spawn } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { OperationFailed } from '../util/errors.js';
import { pidAlive } from '../util/pid.js';

/**
 * The local cluster's daemons (operator, agents) as detached processes inside namespaces, their
 * output going to a log file each: they must outlive an `up --detach` that started them, and
 * `down` (or the next `up`) ends them by PID — `ip netns pids` finds them even when the record is
 * lost. `ip netns exec` execs the command, so the PID we get is the daemon's own.
 */

export interface Daemon {
  pid: number;
  netns: string;
  log: string;
}

/**
 * Sets a daemon's niceness (lower runs first); false when not allowed (no CAP_SYS_NICE) or the
 * process is gone. `up` runs on one machine what a real cluster runs on many: see up-start.ts.
 * A daemon runs in a session of its own, and with the kernel's autogroup scheduling
 * (kernel.sched_autogroup_enabled, on by default) a session's processes share one scheduling
 * group whose weight against the other sessions comes from the group's niceness, not the
 * process's: so that one is set too (/proc/PID/autogroup; the daemon is alone in its group).
 */
export function setNice(pid: number, nice: number, autogroupFile = `/proc/${pid}/autogroup`): boolean {
  try {
    setPriority(pid, nice);
  } catch {
    return false;
  }
  try {
    writeFileSync(autogroupFile, String(nice));
  } catch { /* a kernel without autogroups: the process niceness is all there is */ }
  return true;
}

/** Starts `argv` inside `netns`, detached, stdout and stderr appended to `log`, at niceness `nice` (default: ours). */
export async function spawnDaemon(netns: string, argv: readonly string[], log: string, env: NodeJS.ProcessEnv = process.env, nice?: number): Promise<Daemon> {
  await mkdir(path.dirname(log), { recursive: true });
  const fd = openSync(log, 'a', 0o644);
  try {
    const child = spawn('ip', ['netns', 'exec', netns, ...argv], { detached: true, stdio: ['ignore', fd, fd], env });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid!));
      child.once('error', reject);
    });
    child.unref();
    // Niceness carries over exec: it holds for the daemon `ip` becomes.
    if (nice !== undefined) setNice(pid, nice);
    return { pid, netns, log };
  } finally {
    closeSync(fd);
  }
}

/** The log's text ('' when it does not exist yet). */
export async function readLog(log: string): Promise<string> {
  try {
    return await readFile(log, 'utf8');
  } catch {
    return '';
  }
}

/** The last lines of a log, for error messages. */
export async function logTail(log: string, lines = 8): Promise<string> {
  return (await readLog(log)).trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * Waits until `check` says yes; fails early when the daemon dies (naming its log and quoting its
 * last lines) or at the deadline.
 */
export async function waitForDaemon(d: Daemon, what: string, check: () => Promise<boolean>, timeoutMs: number, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (!pidAlive(d.pid)) throw new OperationFailed(`${what}: the process (pid ${d.pid}) exited; ${d.log} ends with:\n${await logTail(d.log)}`);
    if (Date.now() > deadline) throw new OperationFailed(`${what}: not ready within ${Math.round(timeoutMs / 1000)} s; ${d.log} ends with:\n${await logTail(d.log)}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** JSON lines of a log that parse, in order (pino logs, one object per line). */
export async function logEvents(log: string): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of (await readLog(log)).split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch { /* a half-written line */ }
  }
  return out;
}
