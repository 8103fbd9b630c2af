import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { waitFor } from './netns.js';
import { cliPath, repoRoot } from './paths.js';
import { planTopology, type TopologyPlan } from '../../src/cluster/topology.js';
import { buildTopology, teardownTopology } from '../../src/cluster/topology-netns.js';
import { FsStore, storeDir, nodeDir, NETWORK_KEY } from '../../src/store/index.js';
import { registerNode } from '../../src/pki/enroll.js';
import { loadOrCreateIdentity } from '../../src/pki/node-identity.js';
import type { AgentState, StatusJson } from '../../src/agent/index.js';
import { controlRequest } from '../../src/host/control-client.js';

// The product on netns nodes as a user starts it: the operator and one `overlay-ipsec agent` per
// node namespace. Shared by the agent tests (agent-cluster) and the fault and rekey-without-loss
// tests (faults-*, rekey-*), each with its own namespace prefix.

export const NODE = process.execPath;

/** The seed's cluster config with IPsec on. */
export const IPSEC_CONFIGS = [
  path.join(repoRoot, 'examples', 'install-config.yaml'),
  path.join(repoRoot, 'examples', 'manifests', 'cluster-network-03-config.yml'),
];

export interface Cluster {
  prefix: string;
  plan: TopologyPlan;
  stateDir: string;
  configs: string[];
  operator: ChildProcess;
  agents: Map<string, ChildProcess>;
  stderr: Map<string, string[]>;
  /** Extra environment and arguments every agent (re)start gets. */
  agentEnv: NodeJS.ProcessEnv;
  agentArgs: string[];
}

export interface ClusterOptions {
  prefix: string;
  configs: string[];
  masters?: number;
  workers?: number;
  /** Runs after nodes are registered, before the agents start (e.g. start a capture). */
  beforeAgents?: (c: Cluster) => Promise<void>;
  agentEnv?: NodeJS.ProcessEnv;
  agentArgs?: string[];
  /** Extra arguments for one node's agent (e.g. --keylog on one node only). */
  argsFor?: (node: string) => string[];
  operatorEnv?: NodeJS.ProcessEnv;
}

export function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(NODE, [cliPath, ...args], { encoding: 'utf8', timeout: 15_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function inNs(ns: string, cmd: string[]) {
  return spawnSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8', timeout: 20_000 });
}

export function collect(p: ChildProcess, name: string, into: Map<string, string[]>): void {
  const lines: string[] = [];
  into.set(name, lines);
  p.stderr?.setEncoding('utf8');
  p.stderr?.on('data', (d: string) => lines.push(...d.split('\n').filter(Boolean)));
}

export async function stopProcess(p: ChildProcess, graceMs = 5000): Promise<number | null> {
  if (p.exitCode !== null || p.signalCode !== null) return p.exitCode;
  const exited = once(p, 'exit');
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), graceMs);
  const [code] = (await exited) as [number | null];
  clearTimeout(t);
  return code;
}

/** kill -9, waiting until the process is gone. */
export async function killHard(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = once(p, 'exit');
  p.kill('SIGKILL');
  await exited;
}

/** Starts the operator (again, e.g. after it was stopped, possibly with a clock offset). */
export function startOperator(c: Pick<Cluster, 'plan' | 'stateDir' | 'configs' | 'stderr'>, env: NodeJS.ProcessEnv = {}, tag = 'operator'): ChildProcess {
  const p = spawn(NODE, [cliPath, 'operator', '--state-dir', c.stateDir, '--config', ...c.configs, '--underlay-mtu', String(c.plan.underlay.mtu), '--tick-ms', '500'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  collect(p, tag, c.stderr);
  return p;
}

/** Starts (or restarts) one node's agent in its namespace. */
export function startAgent(c: Cluster, node: string, opts: { env?: NodeJS.ProcessEnv; tag?: string; args?: string[] } = {}): ChildProcess {
  const n = c.plan.nodes.find((x) => x.name === node)!;
  const a = spawn('ip', ['netns', 'exec', n.netns, NODE, cliPath, 'agent', '--node', n.name, '--state-dir', c.stateDir, ...c.agentArgs, ...(opts.args ?? [])], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...c.agentEnv, ...opts.env },
  });
  collect(a, opts.tag ?? n.name, c.stderr);
  c.agents.set(n.name, a);
  return a;
}

/** Builds the namespaces, starts the operator and the agents (nodes registered in plan order, so subnets follow it). */
export async function startCluster(o: ClusterOptions): Promise<Cluster> {
  const plan = planTopology({ prefix: o.prefix, masters: o.masters ?? 2, workers: o.workers ?? 1, podsPerNode: 2 });
  await buildTopology(plan);
  const stateDir = mkdtempSync(path.join(tmpdir(), `${o.prefix}-`));
  const stderr = new Map<string, string[]>();
  const operator = startOperator({ plan, stateDir, configs: o.configs, stderr }, o.operatorEnv);
  const c: Cluster = { prefix: o.prefix, plan, stateDir, configs: o.configs, operator, agents: new Map(), stderr, agentEnv: o.agentEnv ?? {}, agentArgs: o.agentArgs ?? [] };
  const store = await FsStore.open(storeDir(stateDir));
  try {
    // Nodes are registered in plan order first (what the agent does at its start, with the same
    // code), so the operator's lowest-free subnets follow the plan the pods were addressed from;
    // then the agents start together.
    await waitFor(async () => (await store.get('network', NETWORK_KEY)) !== undefined, 'the operator stored the network config', 20_000);
    for (const n of plan.nodes) {
      await registerNode(store, await loadOrCreateIdentity(stateDir, n.name), Date.now, n.underlayIp);
      await new Promise((r) => setTimeout(r, 5));
    }
    await o.beforeAgents?.(c);
    for (const n of plan.nodes) startAgent(c, n.name, { args: o.argsFor?.(n.name) ?? [] });
    await waitFor(async () => (await store.list('subnets')).length === plan.nodes.length, 'a subnet for every node', 20_000);
    const subnets = Object.fromEntries((await store.list('subnets')).map((s) => [s.value.node, s.value.cidr]));
    assert.deepEqual(subnets, Object.fromEntries(plan.nodes.map((n) => [n.name, n.subnet])), 'the operator allocated the subnets the pods were planned in');
  } finally {
    await store.close();
  }
  return c;
}

export function agentState(c: Pick<Cluster, 'stateDir'>, node: string): AgentState | undefined {
  try {
    return JSON.parse(readFileSync(path.join(nodeDir(c.stateDir, node), 'agent.json'), 'utf8')) as AgentState;
  } catch {
    return undefined;
  }
}

/** What each agent says about itself and the tail of its libreswan.log, for a failure message. */
export function clusterDiagnostics(cl: Cluster): string {
  return cl.plan.nodes.map((n) => {
    let log = '';
    try {
      log = readFileSync(path.join(nodeDir(cl.stateDir, n.name), 'libreswan.log'), 'utf8').split('\n').slice(-12).join('\n');
    } catch { /* not written yet */ }
    return `--- ${n.name}: ${JSON.stringify(agentState(cl, n.name))}\n${log}\n${(cl.stderr.get(n.name) ?? []).slice(-5).join('\n')}`;
  }).join('\n');
}

/** Waits until every agent says ready (all tunnels established); the failure names what each agent said. */
export async function waitReady(cl: Cluster, timeoutMs = 30_000, what = 'every agent ready (all tunnels established)'): Promise<void> {
  await waitFor(() => cl.plan.nodes.every((n) => agentState(cl, n.name)?.ready === true), what, timeoutMs, 200)
    .catch((err: Error) => { throw new Error(`${err.message}\n${clusterDiagnostics(cl)}`); });
}

export async function stopCluster(c: Cluster | undefined): Promise<void> {
  if (!c) return;
  for (const a of c.agents.values()) await stopProcess(a);
  await stopProcess(c.operator);
  await teardownTopology(c.prefix);
  // OIF_KEEP_STATE=DIR keeps a copy of the state directory (logs, pcaps) for a post-mortem.
  if (process.env.OIF_KEEP_STATE) {
    const keep = path.join(process.env.OIF_KEEP_STATE, path.basename(c.stateDir));
    cpSync(c.stateDir, keep, { recursive: true });
    for (const [name, lines] of c.stderr) writeFileSync(path.join(keep, `${name}.stderr`), lines.join('\n') + '\n');
  }
  rmSync(c.stateDir, { recursive: true, force: true });
}

export function socketOf(c: Pick<Cluster, 'stateDir'>, node: string): string {
  return path.join(nodeDir(c.stateDir, node), 'agent.sock');
}

/** One control-socket request that must succeed. */
export async function ask(c: Pick<Cluster, 'stateDir'>, node: string, req: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await controlRequest(socketOf(c, node), req);
  assert.ok(res.ok, `${node} ${JSON.stringify(req)}: ${JSON.stringify(res)}`);
  return res;
}

export async function statusOf(c: Pick<Cluster, 'stateDir'>, node: string): Promise<StatusJson> {
  return (await ask(c, node, { cmd: 'status' })).status as StatusJson;
}

function probe(c: Cluster): void {
  const n = c.plan.nodes[0]!;
  inNs(n.netns, [NODE, '-e', `const s=require('dgram').createSocket('udp4');s.send('probe',9,'${c.plan.nodes[1]!.underlayIp}',()=>s.close())`]);
}

/** A capture in master0's namespace on its underlay veth (eth0): everything that node sends or receives. */
export async function startCapture(c: Cluster, file: string): Promise<ChildProcess> {
  const n = c.plan.nodes[0]!;
  const p = spawn('ip', ['netns', 'exec', n.netns, 'tcpdump', '-i', n.underlayIf, '-U', '-n', '-w', file, 'udp'], { stdio: ['ignore', 'ignore', 'pipe'] });
  // tcpdump says "listening on eth0" once its socket is capturing.
  let err = '';
  p.stderr!.setEncoding('utf8');
  p.stderr!.on('data', (d: string) => { err += d; });
  await waitFor(() => err.includes('listening on'), `tcpdump listening (${err})`, 10_000, 20);
  // "listening" is said a moment before packets are caught: probe (UDP to the discard port of
  // another node, counted as "other") until the capture holds a packet.
  await waitFor(() => {
    probe(c);
    return existsSync(file) && statSync(file).size > 24;
  }, 'the capture sees packets', 10_000, 100);
  return p;
}

/**
 * Stops a capture without losing its tail: a last probe is sent and tcpdump is stopped only once
 * it has written it (a loaded machine leaves packets in the capture ring that SIGTERM would drop).
 */
export async function stopCapture(c: Cluster, p: ChildProcess, file: string): Promise<void> {
  const size = statSync(file).size;
  await waitFor(() => {
    probe(c);
    return statSync(file).size > size;
  }, 'the capture wrote the last probe', 10_000, 200);
  await new Promise((r) => setTimeout(r, 100));
  p.kill('SIGTERM');
  await once(p, 'exit');
}

/** UDP datagrams between node addresses in a capture, by port class. */
export function classify(c: Cluster, pcap: string): { esp: number; ike: number; geneve: number; other: number } {
  const r = spawnSync('tshark', ['-r', pcap, '-T', 'fields', '-E', 'separator=|', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'udp.srcport', '-e', 'udp.dstport', '-e', 'esp.spi', '-e', 'isakmp.ispi'], { encoding: 'utf8', maxBuffer: 256 << 20 });
  assert.equal(r.status, 0, r.stderr);
  const nodes = new Set(c.plan.nodes.map((n) => n.underlayIp));
  const out = { esp: 0, ike: 0, geneve: 0, other: 0 };
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const [src, dst, sport, dport, spi, ispi] = line.split('|');
    const s = src!.split(',')[0]!;
    const d = dst!.split(',')[0]!;
    if (!nodes.has(s) || !nodes.has(d)) {
      out.other++;
      continue;
    }
    const ports = [sport!.split(',')[0], dport!.split(',')[0]];
    if (ports.includes('6081')) out.geneve++;
    else if (ports.every((p) => p === '4500') && spi) out.esp++;
    else if ((ports.includes('500') || ports.includes('4500')) && ispi) out.ike++;
    else out.other++;
  }
  return out;
}
