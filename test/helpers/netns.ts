import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { SEGMENT_LIKE_A_NIC } from '../../src/cluster/topology-netns.js';

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command on the host, synchronously. Throws with stderr when `check` and it fails. */
export function sh(cmd: string[], opts: { check?: boolean; input?: string; timeoutMs?: number } = {}): ExecResult {
  const r = spawnSync(cmd[0]!, cmd.slice(1), {
    encoding: 'utf8',
    input: opts.input,
    timeout: opts.timeoutMs ?? 30_000,
  });
  const res = { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  if ((opts.check ?? true) && r.status !== 0) {
    throw new Error(`command failed (${r.status ?? r.signal}): ${cmd.join(' ')}\n${res.stderr}${res.stdout}`);
  }
  return res;
}

/**
 * A set of network namespaces a test builds and owns. Every namespace and process it makes is
 * removed by cleanup(), processes ended by PID. Names carry a prefix so a crashed earlier run's
 * leftovers (same prefix) are removed before a new lab starts.
 */
export class NetnsLab {
  private readonly namespaces: string[] = [];
  private readonly procs: ChildProcess[] = [];
  private captures = 0;

  constructor(readonly prefix: string) {
    if (!/^[a-z0-9-]{1,12}$/.test(prefix)) throw new Error(`bad netns prefix: ${prefix}`);
    this.removeStale();
  }

  /** Creates namespace `<prefix>-<name>` with loopback up; returns its full name. */
  addNs(name: string): string {
    const ns = `${this.prefix}-${name}`;
    sh(['ip', 'netns', 'add', ns]);
    this.namespaces.push(ns);
    sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /**
   * A veth pair between two namespaces, each end addressed (CIDR form) and up. Both ends segment
   * like a NIC (`SEGMENT_LIKE_A_NIC`, as the cluster's node links do), so a capture on either end
   * records the datagrams a wire would carry, one ESP packet each, even from a sender that uses
   * UDP_SEGMENT. `kernelDefaults` keeps the veth as the kernel makes it (super-datagrams passed on
   * whole): the benchmark's ground, where nothing is captured.
   */
  veth(nsA: string, ifA: string, cidrA: string, nsB: string, ifB: string, cidrB: string, opts: { mtu?: number; kernelDefaults?: boolean } = {}): void {
    const segment = opts.kernelDefaults ? [] : SEGMENT_LIKE_A_NIC;
    sh(['ip', 'link', 'add', ifA, ...segment, 'netns', nsA, 'type', 'veth', 'peer', 'name', ifB, ...segment, 'netns', nsB]);
    for (const [ns, dev, cidr] of [[nsA, ifA, cidrA], [nsB, ifB, cidrB]] as const) {
      if (opts.mtu) sh(['ip', '-n', ns, 'link', 'set', dev, 'mtu', String(opts.mtu)]);
      sh(['ip', '-n', ns, 'addr', 'add', cidr, 'dev', dev]);
      sh(['ip', '-n', ns, 'link', 'set', dev, 'up']);
    }
    this.maybeCapture(nsA, ifA);
  }

  /**
   * With OI_CAPTURE_DIR set, every veth's UDP traffic is recorded (tcpdump on the first end) into
   * `<dir>/<prefix>-<if>.pcap`: how the fuzz corpus (test/fixtures/fuzz) is seeded from the real
   * IKE and ESP our interop tests exchange with strongSwan and libreswan. Off otherwise.
   */
  private maybeCapture(ns: string, dev: string): void {
    const dir = process.env.OI_CAPTURE_DIR;
    if (!dir) return;
    const file = `${dir}/${this.prefix}-${dev}-${process.pid}-${this.captures++}.pcap`;
    this.spawn(ns, ['tcpdump', '-i', dev, '-n', '-U', '-s', '0', '-w', file, 'udp']);
    // veth() is synchronous; give tcpdump time to open its socket before the test sends anything.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 700);
  }

  /** Runs a command inside a namespace and waits for it. */
  exec(ns: string, cmd: string[], opts: { check?: boolean; input?: string; timeoutMs?: number } = {}): ExecResult {
    return sh(['ip', 'netns', 'exec', ns, ...cmd], opts);
  }

  /** Starts a long-running command inside a namespace; cleanup() ends it by PID. */
  spawn(ns: string, cmd: string[], opts: SpawnOptions = {}): ChildProcess {
    const p = spawn('ip', ['netns', 'exec', ns, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    this.procs.push(p);
    return p;
  }

  /** Ends one process this lab started: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(p: ChildProcess, graceMs = 3000): Promise<void> {
    if (p.exitCode !== null || p.signalCode !== null || p.pid === undefined) return;
    const exited = once(p, 'exit');
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.procs.map((p) => this.stop(p)));
    for (const ns of this.namespaces.splice(0).reverse()) {
      sh(['ip', 'netns', 'del', ns], { check: false });
    }
  }

  private removeStale(): void {
    const list = sh(['ip', 'netns', 'list'], { check: false }).stdout;
    for (const line of list.split('\n')) {
      const ns = line.split(' ')[0];
      if (ns && ns.startsWith(`${this.prefix}-`)) {
        // Processes left in a stale namespace are ended by PID first.
        const pids = sh(['ip', 'netns', 'pids', ns], { check: false }).stdout.split('\n').filter(Boolean);
        for (const pid of pids) {
          try { process.kill(Number(pid), 'SIGKILL'); } catch { /* already gone */ }
        }
        sh(['ip', 'netns', 'del', ns], { check: false });
      }
    }
  }
}

/** Resolves when `pred` is true, polling; rejects after `timeoutMs` with `what` in the message. */
export async function waitFor(pred: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000, stepMs = 100): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
