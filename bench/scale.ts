#!/usr/bin/env node
/**
 * `npm run scale -- --nodes 20,50`: the product at size, as a user runs it — `overlay-ipsec up
 * --detach` with 3 masters and the rest workers, one pod per node, IPsec on — and per size: time
 * to every agent running, to every tunnel up, to every pod pair answering (from `up`'s own phase
 * lines, timed as they arrive), the agents' CPU at rest over --rest-seconds (default 30) once it
 * stopped falling (lib/settle.ts: 10 s windows until 30 s of them agree with the 30 s before, at most 300 s), agent RSS
 * median and max, and IKE retransmits summed over the agents; then `down`. One size at a time, each
 * removed before the next. Needs root, and the machine to itself (run it under the system lock).
 * With --keep-on-failure a size whose `up` failed is left as it is (`up` runs with OI_KEEP_ON_FAILURE)
 * for its logs and control sockets to be read, and the bench stops there.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { cliPath } from '../test/helpers/paths.js';
import { controlRequest } from '../src/host/control-client.js';
import { nodeDir } from '../src/store/layout.js';
import type { ClusterState } from '../src/cluster/state.js';
import { pidAlive } from '../src/util/pid.js';
import { BENCH_PREFIX, onInterrupt } from './lib/lab.js';
import { cpuSecondsOf, median, rssBytes } from './lib/proc.js';
import { runTracked } from './lib/exec.js';
import { waitUntilAtRest } from './lib/settle.js';
import { checkScaleTargets, type ScaleRow } from './lib/scale-targets.js';
import { targetLines } from './lib/table.js';

function usage(err?: string): never {
  (err ? process.stderr : process.stdout).write(`${err ? `scale: ${err}\n` : ''}usage: npm run scale -- [--nodes N[,N…]] [--rest-seconds S] [--keep-on-failure] [--json]   (N: 4..203, default 20)\n`);
  process.exit(err ? 2 : 0);
}

function parseArgs(argv: string[]): { sizes: number[]; restS: number; json: boolean; keep: boolean } {
  const o = { sizes: [20], restS: 30, json: false, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') o.json = true;
    else if (a === '--keep-on-failure') o.keep = true;
    else if (a === '--nodes') o.sizes = (argv[++i] ?? '').split(',').map((s) => Number(s));
    else if (a === '--rest-seconds') o.restS = Number(argv[++i]);
    else if (a === '--help' || a === '-h') usage();
    else usage(`unknown option ${a}`);
  }
  if (!o.sizes.length || o.sizes.some((n) => !Number.isInteger(n) || n < 4 || n > 203)) usage('--nodes takes whole numbers in 4..203');
  if (!Number.isInteger(o.restS) || o.restS < 1 || o.restS > 600) usage('--rest-seconds takes a whole number in 1..600');
  return o;
}

const prefix = `${BENCH_PREFIX}-scale`;
const stateDir = path.join(tmpdir(), `${prefix}-state`);
const cli = (args: string[], timeoutMs: number) => runTracked(['env', `OI_NETNS_PREFIX=${prefix}`, process.execPath, cliPath, ...args, '--state-dir', stateDir], { timeoutMs });

/** The cluster's record, once `up` has written it (undefined before, or once removed). */
function clusterState(): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(path.join(stateDir, 'cluster.json'), 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

/** CPU seconds the cluster's agents have used so far. */
function agentsCpuS(): number | null {
  const st = clusterState();
  return st ? Number(cpuSecondsOf(st.daemons.filter((d) => d.role === 'agent').map((d) => d.pid)).toFixed(1)) : null;
}

/**
 * Runs `up --detach`, noting when each phase line arrives (seconds since the start), and the
 * agents' CPU seconds when the tunnels phase ends: what the mesh cost them on this machine.
 */
async function up(nodes: number, keep: boolean): Promise<{ code: number | null; seen: Map<string, number>; podPairs: string | null; cpuToTunnels: number | null; lines: string[] }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [cliPath, 'up', '--detach', '--masters', '3', '--workers', String(nodes - 3), '--pods-per-node', '1', '--state-dir', stateDir], {
    env: { ...process.env, OI_NETNS_PREFIX: prefix, OI_KEEP_ON_FAILURE: keep ? '1' : '0' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const seen = new Map<string, number>();
  const lines: string[] = [];
  let podPairs: string | null = null;
  let cpuToTunnels: number | null = null;
  const note = (line: string): void => {
    lines.push(line);
    const m = /^([✓✗]) (starting node agents|establishing tunnels|pod-to-pod check)/.exec(line);
    if (m) seen.set(m[2]!, (performance.now() - t0) / 1000);
    if (m?.[2] === 'establishing tunnels') cpuToTunnels = agentsCpuS();
    if (m?.[2] === 'pod-to-pod check') podPairs = /\d+\/\d+ (pod pairs answered|without an answer)/.exec(line)?.[0] ?? null;
  };
  createInterface({ input: child.stdout! }).on('line', note);
  createInterface({ input: child.stderr! }).on('line', note);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, seen, podPairs, cpuToTunnels, lines };
}

async function measure(nodes: number, restS: number, keep: boolean): Promise<ScaleRow> {
  const r = await up(nodes, keep);
  const load = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  const at = (k: string) => (r.seen.has(k) ? Number(r.seen.get(k)!.toFixed(1)) : null);
  const row: ScaleRow = {
    nodes, up_ok: r.code === 0, agents_running_s: at('starting node agents'), tunnels_up_s: at('establishing tunnels'),
    pods_answering_s: at('pod-to-pod check'), pod_pairs: r.podPairs, agents_cpu_to_tunnels_s: r.cpuToTunnels,
    rest_cpu_pct_of_core: null, rest_settled_after_s: null, rss_mb_median: null, rss_mb_max: null, ike_retransmits: null,
    udp_sndbuf_errors: null, udp_out_datagrams: null, sends_held: null, ike_sends_dropped: null, load_at_up: load, down_clean: null, last_lines: r.lines.slice(-6),
  };
  const state = clusterState();
  if (!state) return row; // up removed what it built
  if (keep && !row.up_ok) return row; // left for inspection
  const agents = state.daemons.filter((d) => d.role === 'agent');
  const udp = await udpCounters(state.nodes.map((n) => n.netns));
  row.udp_sndbuf_errors = udp.sndbufErrors;
  row.udp_out_datagrams = udp.out;
  // At rest only once the agents' CPU stopped falling (settle.ts); the wait is reported with the figure.
  const rest = await waitUntilAtRest(() => cpuSecondsOf(agents.map((a) => a.pid)));
  row.rest_settled_after_s = rest.settled ? rest.waitedS : null;
  const before = cpuSecondsOf(agents.map((a) => a.pid));
  await new Promise((res) => setTimeout(res, restS * 1000));
  row.rest_cpu_pct_of_core = Number(((100 * (cpuSecondsOf(agents.map((a) => a.pid)) - before)) / restS).toFixed(1));
  const rss = agents.map((a) => rssBytes(a.pid) ?? 0).filter((b) => b > 0).map((b) => b / 2 ** 20);
  row.rss_mb_median = rss.length ? Number(median(rss)!.toFixed(1)) : null;
  row.rss_mb_max = rss.length ? Number(Math.max(...rss).toFixed(1)) : null;
  type Refusals = Record<string, { held: number; dropped_ike: number }>;
  const statuses = await Promise.all(agents.map(async (a) => {
    const s = await controlRequest(path.join(nodeDir(stateDir, a.node!), 'agent.sock'), { cmd: 'status' }, 5000).catch(() => undefined);
    return s?.ok ? (s as { status?: { ike?: Record<string, number>; udp?: { send_refusals?: Refusals } } }).status : undefined;
  }));
  const sum = (f: (s: NonNullable<(typeof statuses)[number]>) => number): number => statuses.reduce((a, s) => a + (s ? f(s) : 0), 0);
  const bySocket = (r: Refusals | undefined, k: 'held' | 'dropped_ike'): number => Object.values(r ?? {}).reduce((a, x) => a + x[k], 0);
  row.ike_retransmits = sum((s) => Number(s.ike?.retransmits ?? 0));
  row.sends_held = sum((s) => bySocket(s.udp?.send_refusals, 'held'));
  row.ike_sends_dropped = sum((s) => bySocket(s.udp?.send_refusals, 'dropped_ike'));
  await down();
  row.down_clean = leftOver(state.daemons.map((d) => d.pid)).length === 0;
  return row;
}

/** UdpSndbufErrors and UdpOutDatagrams summed over namespaces (from each one's /proc/net/snmp). */
async function udpCounters(namespaces: readonly string[]): Promise<{ sndbufErrors: number; out: number }> {
  let sndbufErrors = 0;
  let out = 0;
  for (const ns of namespaces) {
    const r = await runTracked(['ip', 'netns', 'exec', ns, 'cat', '/proc/net/snmp'], { timeoutMs: 10_000 });
    const udp = r.stdout.split('\n').filter((l) => l.startsWith('Udp: '));
    if (udp.length < 2) continue;
    const names = udp[0]!.split(/\s+/);
    const values = udp[1]!.split(/\s+/).map(Number);
    sndbufErrors += values[names.indexOf('SndbufErrors')] ?? 0;
    out += values[names.indexOf('OutDatagrams')] ?? 0;
  }
  return { sndbufErrors, out };
}

function table(rows: readonly ScaleRow[]): string {
  const head = ['nodes', 'up', 'agents running', 'tunnels up', 'agents\' CPU to tunnels', 'pods answering', 'pod pairs', 'CPU at rest', 'at rest after', 'RSS median', 'RSS max', 'IKE retransmits', 'UDP sends refused', 'held', 'IKE dropped', 'load', 'down'];
  const f = (v: number | null, unit: string) => (v === null ? '—' : `${v}${unit}`);
  const body = rows.map((r) => [String(r.nodes), r.up_ok ? 'ok' : 'FAILED', f(r.agents_running_s, ' s'), f(r.tunnels_up_s, ' s'), f(r.agents_cpu_to_tunnels_s, ' s'), f(r.pods_answering_s, ' s'), r.pod_pairs ?? '—',
    f(r.rest_cpu_pct_of_core, ' % of a core'), r.rest_cpu_pct_of_core === null ? '—' : r.rest_settled_after_s === null ? 'NOT SETTLED' : `${r.rest_settled_after_s} s`, f(r.rss_mb_median, ' MB'), f(r.rss_mb_max, ' MB'), f(r.ike_retransmits, ''),
    r.udp_sndbuf_errors === null ? '—' : `${r.udp_sndbuf_errors}/${r.udp_out_datagrams}`, f(r.sends_held, ''), f(r.ike_sends_dropped, ''), String(r.load_at_up),
    r.down_clean === null ? '—' : r.down_clean ? 'clean' : 'LEFT SOME']);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return [head, ...body].map((cells) => cells.map((c, i) => c.padEnd(w[i]!)).join('  ')).join('\n') + '\n';
}

/** What a `down` left: the cluster's namespaces and daemons still there. */
function leftOver(pids: readonly number[]): string[] {
  const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`${prefix}-`));
  return [...netns, ...pids.filter(pidAlive).map((pid) => `pid ${pid}`)];
}

const o = parseArgs(process.argv.slice(2));
const down = async (): Promise<void> => {
  await cli(['down'], 120_000);
  rmSync(stateDir, { recursive: true, force: true });
};
const unregister = onInterrupt(down);
const rows: ScaleRow[] = [];
let kept = false;
try {
  for (const n of o.sizes) {
    await down();
    process.stderr.write(`scale: ${n} nodes…\n`);
    const row = await measure(n, o.restS, o.keep);
    rows.push(row);
    if (!row.up_ok) process.stderr.write(`scale: up failed at ${n} nodes:\n  ${row.last_lines.join('\n  ')}\n`);
    if (!row.up_ok && o.keep && clusterState()) {
      kept = true;
      process.stderr.write(`scale: kept for inspection (logs in ${path.join(stateDir, 'logs')}); remove it with: OI_NETNS_PREFIX=${prefix} overlay-ipsec down --state-dir ${stateDir}\n`);
      break;
    }
  }
} finally {
  if (!kept) await down();
  unregister();
}
const targets = checkScaleTargets(rows);
process.stdout.write(o.json ? `${JSON.stringify({ rows, targets })}\n` : `${table(rows)}\n${targetLines(targets).join('\n')}\n`);
