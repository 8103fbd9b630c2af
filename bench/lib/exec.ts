import { execFile, type ChildProcess } from 'node:child_process';
import { onInterrupt } from './lab.js';

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const running = new Set<ChildProcess>();
let registered = false;

/**
 * Runs a command to completion without blocking the event loop (never rejects: the exit code
 * says how it went). The child is remembered until it exits, so that Ctrl-C ends it by PID — a
 * client inside a namespace is not always in the terminal's process group.
 */
export function runTracked(cmd: string[], o: { timeoutMs?: number } = {}): Promise<ExecResult> {
  if (!registered) {
    registered = true;
    onInterrupt(async () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
  return new Promise((resolve) => {
    const child = execFile(cmd[0]!, cmd.slice(1), { timeout: o.timeoutMs ?? 30_000, maxBuffer: 64 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      running.delete(child);
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      resolve({ code, stdout: stdout ?? '', stderr: stderr ?? (err ? String(err) : '') });
    });
    running.add(child);
  });
}
