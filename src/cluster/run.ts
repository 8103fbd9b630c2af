import { execFile } from 'node:child_process';
import { MissingPrograms, PROGRAM_PACKAGES, type Program } from '../util/programs.js';

/**
 * Runs a system command (ip, sysctl) for the cluster builder, asynchronously so a CLI can keep
 * drawing progress. Failure throws with the command line and its stderr.
 */
export class CommandFailed extends Error {
  constructor(readonly argv: string[], readonly code: number | string | null, readonly stderr: string) {
    super(`command failed (${code}): ${argv.join(' ')}${stderr ? `: ${stderr.trim()}` : ''}`);
    this.name = 'CommandFailed';
  }
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/**
 * `timeoutMs` may be computed from fractional seconds (0.2 s ping intervals): Node's execFile
 * refuses a non-integer timeout with a synchronous RangeError, so it is rounded up here, once.
 */
export function run(argv: string[], opts: { check?: boolean; timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: Math.ceil(opts.timeoutMs ?? 30_000), maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = (err as (NodeJS.ErrnoException & { code?: number | string }) | null)?.code ?? null;
      // A program that is not there never "just failed": callers check first (util/programs.ts);
      // this is the backstop, so a missed check still names the program and its package.
      if (code === 'ENOENT' && argv[0]! in PROGRAM_PACKAGES) {
        reject(new MissingPrograms('this command', [argv[0] as Program]));
        return;
      }
      if (err && (opts.check ?? true)) {
        reject(new CommandFailed(argv, code, stderr || err.message));
        return;
      }
      resolve({ stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/**
 * Runs many `ip` commands in one process (`ip [-n NS] -batch -`): starting a process costs tens of
 * milliseconds here, and a cluster takes hundreds of commands. Tokens must not contain spaces.
 * With `force`, ip carries on past failing lines (teardown); otherwise the first failure throws.
 */
export async function ipBatch(ns: string | null, lines: readonly (readonly string[])[], force = false): Promise<void> {
  if (lines.length === 0) return;
  const argv = ['ip', ...(ns ? ['-n', ns] : []), ...(force ? ['-force'] : []), '-batch', '-'];
  await run(argv, { input: lines.map((l) => l.join(' ')).join('\n') + '\n', check: !force });
}
