import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OverlayStatus } from '../../src/overlay/engine.js';
import type { TopologyPlan } from '../../src/cluster/topology.js';
import { nodeOverlayConfig } from './topology-overlay.js';

/**
 * The plain overlay of a local cluster as processes, for tests: one node runner
 * (overlay-node-runner.ts) per node namespace (IPsec off, the seed's §5.2), cleartext Geneve
 * between netns nodes without agents, operator or store. Each process is driven by signals: SIGHUP reloads its peers,
 * SIGUSR1 prints its status, SIGTERM stops it.
 */
const RUNNER = fileURLToPath(new URL('./overlay-node-runner.js', import.meta.url));

export interface RunnerStatus extends OverlayStatus {
  tun_write_failures: number;
  /** The plain underlay's own failures: send_errors, receive_errors. */
  underlay_counters: Record<string, number>;
}

export class OverlayProcess {
  /** Every JSON line the runner printed, in order. */
  readonly events: Array<Record<string, unknown>> = [];
  private stderr = '';
  private waiters: Array<() => void> = [];

  constructor(readonly node: string, readonly netns: string, readonly configFile: string, readonly child: ChildProcess) {
    let buf = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          this.events.push(JSON.parse(line) as Record<string, unknown>);
        } catch { /* not an event line */ }
      }
      this.wake();
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-4000);
    });
    child.on('exit', () => this.wake());
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * The first event after index `from` named `event` (or any of several names); rejects when the
   * process exits first or on timeout.
   */
  async waitEvent(event: string | readonly string[], from = 0, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    const names = typeof event === 'string' ? [event] : event;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.slice(from).find((e) => names.includes(e.event as string));
      if (hit) return hit;
      if (!this.running) throw new Error(`overlay runner ${this.node} exited (${this.child.exitCode ?? this.child.signalCode}) before "${names.join('" or "')}": ${this.stderr.trim()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`overlay runner ${this.node}: no "${names.join('" or "')}" within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async status(): Promise<RunnerStatus> {
    const from = this.events.length;
    this.child.kill('SIGUSR1');
    return (await this.waitEvent('status', from)) as unknown as RunnerStatus;
  }

  /** Re-reads the config file; resolves with the number of peers now. */
  async reload(): Promise<number> {
    const from = this.events.length;
    this.child.kill('SIGHUP');
    const e = await this.waitEvent(['reloaded', 'reload_failed'], from);
    if (e.event === 'reload_failed') throw new Error(`overlay runner ${this.node}: reload failed: ${String(e.error)}`);
    return e.peers as number;
  }

  /** SIGTERM, then SIGKILL after graceMs. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.running) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(t);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/** Starts a runner inside `netns` and waits until its TUN is up and its port bound. */
export async function startOverlayProcess(netns: string, node: string, configFile: string): Promise<OverlayProcess> {
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, RUNNER, '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const p = new OverlayProcess(node, netns, configFile, child);
  try {
    await p.waitEvent('ready');
  } catch (err) {
    await p.stop();
    throw err;
  }
  return p;
}

/** Writes every node's overlay config (full mesh) as `<dir>/<node>.overlay.json`, atomically. */
export async function writeOverlayConfigs(plan: TopologyPlan, systemIds: Readonly<Record<string, string>>, dir: string): Promise<Record<string, string>> {
  await mkdir(dir, { recursive: true });
  const files: Record<string, string> = {};
  for (const n of plan.nodes) {
    const file = path.join(dir, `${n.name}.overlay.json`);
    const tmp = `${file}.tmp`;
    await writeFile(tmp, JSON.stringify(nodeOverlayConfig(plan, n, systemIds), null, 2) + '\n');
    await rename(tmp, file);
    files[n.name] = file;
  }
  return files;
}

/** Starts one runner per planned node (configs written to `dir`); all or none. */
export async function startClusterOverlay(plan: TopologyPlan, systemIds: Readonly<Record<string, string>>, dir: string): Promise<OverlayProcess[]> {
  const files = await writeOverlayConfigs(plan, systemIds, dir);
  const started = await Promise.allSettled(plan.nodes.map((n) => startOverlayProcess(n.netns, n.name, files[n.name]!)));
  const ok = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(ok.map((p) => p.stop()));
    throw failed.reason;
  }
  return ok;
}
