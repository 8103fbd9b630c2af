import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { cliPath } from '../../test/helpers/paths.js';
import { cpuSeconds } from '../lib/proc.js';
import { CA_BUNDLE_KEY } from '../../src/store/documents.js';
import type { Store } from '../../src/store/store.js';

/**
 * `overlay-ipsec operator` as a process of its own, the way a cluster runs it, so its CPU time
 * is its own (/proc/PID/stat) and not the simulated nodes'. Ended by PID.
 */
export class OperatorProcess {
  private constructor(
    private readonly p: ChildProcess,
    readonly logFile: string,
  ) {}

  static start(args: string[], logFile: string): OperatorProcess {
    const fd = openSync(logFile, 'a');
    // --no-deprecation: grpc's note that an IP address is not a TLS server name (it is checked against the IP SANs).
    // BENCH_OPERATOR_CPU_PROF=DIR: a V8 CPU profile of the operator in DIR (open it in Chrome's DevTools).
    const prof = process.env.BENCH_OPERATOR_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_OPERATOR_CPU_PROF] : [];
    const p = spawn(process.execPath, ['--no-deprecation', ...prof, cliPath, 'operator', ...args], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    return new OperatorProcess(p, logFile);
  }

  get pid(): number {
    return this.p.pid!;
  }

  /** CPU seconds it has used so far. */
  cpu(): number {
    const c = cpuSeconds(this.pid);
    if (c === undefined) throw new Error(`the operator (pid ${this.pid}) is gone: ${this.logTail()}`);
    return c;
  }

  running(): boolean {
    return this.p.exitCode === null && this.p.signalCode === null;
  }

  logTail(): string {
    try {
      return readFileSync(this.logFile, 'utf8').trim().split('\n').slice(-5).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** Resolves once the operator has stored the CA bundle (it is ready to sign). */
  async waitReady(store: Store, timeoutMs = 60_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!(await store.get('ca', CA_BUNDLE_KEY).catch(() => undefined))) {
      if (!this.running()) throw new Error(`the operator exited: ${this.logTail()}`);
      if (Date.now() > until) throw new Error(`the operator stored no CA bundle within ${timeoutMs / 1000} s: ${this.logTail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGTERM (a clean stop), SIGKILL after 5 s; by PID. */
  async stop(): Promise<void> {
    if (!this.running()) return;
    const gone = new Promise<void>((r) => this.p.once('exit', () => r()));
    this.p.kill('SIGTERM');
    const t = setTimeout(() => this.p.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  }
}
