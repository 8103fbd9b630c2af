import { execFile } from 'node:child_process';

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

export function run(argv: string[], opts: { check?: boolean; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: opts.timeoutMs ?? 30_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err && (opts.check ?? true)) {
        const code = (err as NodeJS.ErrnoException & { code?: number | string }).code ?? null;
        reject(new CommandFailed(argv, code, stderr || err.message));
        return;
      }
      resolve({ stdout, stderr });
    });
  });
}
