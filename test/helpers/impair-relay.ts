import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { sh, waitFor } from './netns.js';
import { repoRoot } from './paths.js';
import type { TopologyPlan } from '../../src/cluster/topology.js';

// An impaired underlay that also reorders: every IKE and ESP frame (UDP 500/4500) a node sends
// is diverted by nftables (`netdev` ingress on its bridge port, `fwd to`) into a TAP device owned
// by test/helpers/impair-relay.py in the underlay namespace. The relay drops, delays (reorders)
// and duplicates frames, seeded, and writes the rest back into the TAP, whose ingress hook
// forwards each to the port of the node it is addressed to. ARP and everything else still goes
// through the bridge untouched.

const RELAY = path.join(repoRoot, 'test', 'helpers', 'impair-relay.py');
/** Debian's python3 (the relay needs only the standard library). */
const PYTHON = '/usr/bin/python3';
const TAP = 'oi-relay';
const TABLE = 'oif_relay';

export interface RelayOptions {
  seed: number;
  /** Each frame is dropped with this probability (%). */
  lossPct: number;
  /** Each frame not dropped is also sent a second time with this probability (%). */
  dupPct: number;
  /** Each copy sent is held for 1..maxDelayMs ms (uniform) with this probability (%), else sent at once. */
  reorderPct: number;
  maxDelayMs: number;
}

/** What the relay did to one kind of traffic in one direction. */
export interface KindCounts {
  seen: number;
  dropped: number;
  duplicated: number;
  delayed: number;
  /** Copies written back (originals and duplicates). */
  delivered: number;
  /** Originals delivered after a frame of the same direction that reached the relay later. */
  reordered: number;
  /** ESP: the furthest an original went out behind the highest sequence number already delivered on its SPI. */
  max_depth: number;
}

export interface RelayCounts {
  /** By "<src ip>><dst ip>", then kind: ike, esp (keepalive when NAT keepalives pass). */
  directions: Record<string, Partial<Record<'ike' | 'esp' | 'keepalive', KindCounts>>>;
  ignored: number;
  write_errors: number;
}

const ZERO: KindCounts = { seen: 0, dropped: 0, duplicated: 0, delayed: 0, delivered: 0, reordered: 0, max_depth: 0 };

export class ImpairRelay {
  private last: RelayCounts = { directions: {}, ignored: 0, write_errors: 0 };
  private constructor(private readonly plan: TopologyPlan, private readonly proc: ChildProcess) {}

  /** Starts the relay and diverts the nodes' IKE and ESP through it (call before the agents start to impair from the first packet). */
  static async start(plan: TopologyPlan, o: RelayOptions): Promise<ImpairRelay> {
    const ns = plan.underlay.netns;
    const proc = spawn('ip', ['netns', 'exec', ns, PYTHON, RELAY, TAP, String(o.seed), String(o.lossPct), String(o.dupPct), String(o.reorderPct), String(o.maxDelayMs)],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    const relay = new ImpairRelay(plan, proc);
    let ready = false;
    let buf = '';
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const v = JSON.parse(buf.slice(0, nl)) as RelayCounts & { ready?: boolean };
        buf = buf.slice(nl + 1);
        if (v.ready) ready = true;
        else relay.last = v;
      }
    });
    try {
      await waitFor(() => ready || proc.exitCode !== null, 'the impairment relay opened its TAP', 10_000, 20);
      if (!ready) throw new Error(`the impairment relay exited (${proc.exitCode})`);
      // No IPv6 on the TAP: the kernel would send its own neighbour discovery into the relay.
      sh(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${TAP}.disable_ipv6=1`], { check: false });
      sh(['ip', '-n', ns, 'link', 'set', TAP, 'mtu', String(plan.underlay.mtu), 'up']);
      sh(['ip', 'netns', 'exec', ns, 'nft', '-f', '-'], { input: rules(plan) });
    } catch (err) {
      relay.kill();
      throw err;
    }
    return relay;
  }

  /** The relay's latest counts (every 250 ms). */
  get counts(): RelayCounts {
    return this.last;
  }

  /** Counts for one kind of traffic from one node to another. */
  between(from: { underlayIp: string }, to: { underlayIp: string }, kind: 'ike' | 'esp'): KindCounts {
    return this.last.directions[`${from.underlayIp}>${to.underlayIp}`]?.[kind] ?? { ...ZERO };
  }

  /** Sum over every direction and kind. */
  total(): KindCounts {
    const t = { ...ZERO };
    for (const kinds of Object.values(this.last.directions)) {
      for (const c of Object.values(kinds)) {
        for (const k of Object.keys(t) as (keyof KindCounts)[]) t[k] = k === 'max_depth' ? Math.max(t[k], c[k]) : t[k] + c[k];
      }
    }
    return t;
  }

  /** Puts the underlay back (rules removed), then ends the relay; resolves with its final counts. */
  async stop(): Promise<RelayCounts> {
    sh(['ip', 'netns', 'exec', this.plan.underlay.netns, 'nft', 'delete', 'table', 'netdev', TABLE], { check: false });
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      const exited = once(this.proc, 'exit');
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
    return this.last;
  }

  /** Cleanup after a failure: the rules and the process (by PID) go at once; the TAP goes with the process. */
  kill(): void {
    sh(['ip', 'netns', 'exec', this.plan.underlay.netns, 'nft', 'delete', 'table', 'netdev', TABLE], { check: false });
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

/** Each node's IKE and ESP into the TAP; out of the TAP, each frame to its destination's port. */
function rules(plan: TopologyPlan): string {
  const lines = [`table netdev ${TABLE} {`];
  for (const n of plan.nodes) {
    lines.push(`  chain from_${n.name} {`,
      `    type filter hook ingress device "${n.underlayPort}" priority 0;`,
      `    ip protocol udp udp dport { 500, 4500 } fwd to "${TAP}"`,
      '  }');
  }
  lines.push('  chain from_relay {', `    type filter hook ingress device "${TAP}" priority 0;`);
  for (const n of plan.nodes) lines.push(`    ip daddr ${n.underlayIp} fwd to "${n.underlayPort}"`);
  lines.push('    counter drop', '  }', '}');
  return lines.join('\n') + '\n';
}
