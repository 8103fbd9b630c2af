import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ExecResult } from './netns.js';
import { pidAlive } from '../../src/util/pid.js';

/**
 * Small pieces the peer harnesses (strongswan.ts, libreswan.ts) and certs.ts share: commands run
 * without blocking the event loop (a daemon under test may live in the same process), and temp
 * dirs that a later run can recognise as abandoned and remove.
 */

/** Runs a command asynchronously; never rejects — the exit code says how it went. */
export function runAsync(cmd: string[], o: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile(cmd[0]!, cmd.slice(1), { timeout: o.timeoutMs ?? 30_000, env: o.env ?? process.env, maxBuffer: 64 << 20, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
        resolve({ code, stdout: stdout ?? '', stderr: stderr ?? (err ? String(err) : '') });
      });
  });
}

const OWNER_FILE = '.owner-pid';

/**
 * A temp dir `<tmp>/<prefix>-XXXXXX` stamped with this process's PID. Dirs with the same prefix
 * whose owning process is gone (a crashed earlier run) are removed first.
 */
export function ownedTempDir(prefix: string): string {
  const base = tmpdir();
  for (const name of readdirSync(base)) {
    if (!name.startsWith(`${prefix}-`)) continue;
    const dir = path.join(base, name);
    let owner: number;
    try {
      owner = Number(readFileSync(path.join(dir, OWNER_FILE), 'utf8'));
    } catch {
      continue; // not one of ours (or not a dir): leave it alone
    }
    if (owner && owner !== process.pid && !pidAlive(owner)) rmSync(dir, { recursive: true, force: true });
  }
  const dir = mkdtempSync(path.join(base, `${prefix}-`));
  writeFileSync(path.join(dir, OWNER_FILE), String(process.pid));
  return dir;
}
