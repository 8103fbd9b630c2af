import path from 'node:path';
import { createInterface } from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import { type NetnsLab, waitFor } from '../helpers/netns.js';
import { repoRoot } from '../helpers/paths.js';
import type { IkeConnectionConfig } from '../../src/ike/config.js';

/**
 * The test side of ike-core-driver.ts: starts the driver in a namespace, collects its JSON-line
 * events, sends commands. Shared by the strongSwan and libreswan interop tests.
 */
export interface DriverEvent {
  kind: string;
  [k: string]: unknown;
}

export const DEFAULT_PSK = 'interop-psk-0123456789';

export class Driver {
  readonly events: DriverEvent[] = [];
  constructor(private readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      try {
        this.events.push(JSON.parse(l) as DriverEvent);
      } catch {
        this.events.push({ kind: 'stdout', line: l });
      }
    });
    createInterface({ input: proc.stderr! }).on('line', (l) => this.events.push({ kind: 'stderr', line: l }));
  }

  /** `authOverride`: AuthConnConfig (PEMs as strings, psk as a string) for every connection; default PSK ours.example ↔ swan.example. */
  static async start(lab: NetnsLab, ns: string, connections: IkeConnectionConfig[], authOverride?: object, timers?: object): Promise<Driver> {
    const auth = Object.fromEntries(connections.map((c) => [c.name, authOverride ?? { local: { auth: 'psk', id: 'ours.example' }, remote: { auth: 'psk', id: 'swan.example' }, psk: DEFAULT_PSK }]));
    const script = path.join(repoRoot, 'dist', 'test', 'interop', 'ike-core-driver.js');
    const proc = lab.spawn(ns, ['env', `IKE_DRIVER_CONFIG=${JSON.stringify({ connections, auth, timers })}`, process.execPath, script], { stdio: ['pipe', 'pipe', 'pipe'] });
    const d = new Driver(proc);
    await waitFor(() => d.events.some((e) => e.kind === 'ready' || e.kind === 'stderr'), 'IKE driver ready', 10_000, 20);
    if (!d.events.some((e) => e.kind === 'ready')) throw new Error(`driver failed: ${JSON.stringify(d.events)}`);
    return d;
  }

  command(c: object): void {
    this.proc.stdin!.write(JSON.stringify(c) + '\n');
  }

  of(kind: string): DriverEvent[] {
    return this.events.filter((e) => e.kind === kind);
  }

  async waitFor(pred: (e: DriverEvent[]) => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    await waitFor(() => pred(this.events), `${what}; driver log:\n${this.logs().join('\n')}`, timeoutMs, 25);
  }

  logs(): string[] {
    return this.events.filter((e) => e.kind === 'log' || e.kind === 'stderr' || e.kind === 'error').map((e) => String(e.line ?? e.message));
  }

  get process(): ChildProcess {
    return this.proc;
  }
}

