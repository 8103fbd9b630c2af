import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OperationFailed, UsageError } from '../util/errors.js';
import { forEachLimited } from '../util/limited.js';
import { requirePrograms, type Program } from '../util/programs.js';
import { storeDir, operatorDir } from '../store/layout.js';
import { clusterDown, runningParts } from './down.js';
import { planTopology, TopologyError, type TopologyPlan } from './topology.js';
import { buildTopology } from './topology-netns.js';
import { ensureNeighbourRoom, neighboursNeeded } from './host-neighbours.js';
import { saveTopology } from './topology-file.js';
import {
  CLUSTER_STATE_VERSION, logsDir, saveClusterState, topologyFile, tryLoadClusterState, type ClusterState,
} from './state.js';
import { checkClusterSize, DEFAULT_CONFIG_FILES, prepareConfig } from './up-config.js';
import type { NodeDaemonDriver, NodeTunnelState } from './up-nodes.js';
import { startNodeDaemons, STARTING_NICE } from './up-start.js';
import { waitForMesh } from './up-converge.js';
import { AgentDriver } from './up-agent.js';
import { ETCD_ADMIN_DIR, HOSTS_DIR, OPERATOR_CREDENTIALS, startClusterEtcd, type ClusterEtcd } from './up-etcd.js';
import { logEvents, spawnDaemon, waitForDaemon } from './up-processes.js';
import type { Progress } from './up-progress.js';
import { bySource, pingFromPod, podPairs, type PingResult, type PodPair } from './verify-traffic.js';
import { verifyCluster, type VerifyReport } from './verify.js';

/**
 * `overlay-ipsec up`: the seed's cluster in network namespaces. Phases, each shown as progress:
 * clean up an earlier run → check the config → build namespaces → operator → node daemons (one per
 * node, in plan order so the operator hands out subnets in the plan's order) → tunnels → pod-to-pod
 * check → a short `verify`. The record (state.ts) is written as soon as there is something to
 * clean up, so a crash at any point is undone by `down` or the next `up`.
 */

const MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));
/** Directories `up` makes in the state dir and `down` removes (the last four with `--store etcd`). */
const CLUSTER_DIRS = ['store', 'operator', 'nodes', 'logs', 'config', 'etcd', ETCD_ADMIN_DIR, HOSTS_DIR, path.dirname(OPERATOR_CREDENTIALS)];

/** Source pods pinging at once (each pings every other node's pod in parallel). */
const PING_SOURCES = 8;
/** Destinations per pod in the closing capture's traffic: every pair up to 9 nodes, a ring beyond. */
const CLOSING_DESTINATIONS = 8;
/** The local cluster's underlay (the seed's). */
const UNDERLAY_CIDR = '192.168.7.0/24';

/** `up` on a state dir whose cluster still runs: refused, and nothing may be cleaned up. */
export class ClusterRunning extends UsageError {}

export interface UpOptions {
  configFiles?: string[];
  masters: number;
  workers: number;
  podsPerNode: number;
  noIpsec: boolean;
  stateDir: string;
  prefix: string;
  /** Seconds of `verify` at the end (0: skip). */
  verifySeconds?: number;
  /** Seconds to wait for every tunnel (and SA) to come up; default scaled to the cluster (up-converge.ts). */
  tunnelTimeoutS?: number;
  /** Agents keep Wireshark key logs under their node directories (for `verify --keylog`). */
  keylog?: boolean;
  /** The control plane: the state directory's store (default), or etcd members in namespaces. */
  store?: 'fs' | 'etcd';
  /** With `store: 'etcd'`: how many members (default 3). */
  etcdMembers?: number;
}

export interface ClusterSummary {
  ipsec: boolean;
  daemon: ClusterState['daemon'];
  nodes: { name: string; role: string; underlay_ip: string; subnet: string; system_id: string; netns: string }[];
  tunnels: NodeTunnelState[];
  pods: number;
  pod_checks: { from: string; to: string; ip: string; ok: boolean; rtt_ms: number | null }[];
  verify?: Pick<VerifyReport, 'packets' | 'encrypted' | 'spis' | 'exit_code' | 'control_plane'>;
  warnings: string[];
}

export interface UpResult {
  state: ClusterState;
  summary: ClusterSummary;
}

/**
 * The programs `up` runs: ip and sysctl to build; ping for the pod-to-pod check and tcpdump for the
 * closing capture, when there are pods on two nodes to check.
 */
export function upPrograms(o: Pick<UpOptions, 'masters' | 'workers' | 'podsPerNode' | 'verifySeconds' | 'store'>): Program[] {
  const podPairs = o.podsPerNode > 0 && o.masters + o.workers > 1;
  return ['ip', 'sysctl', ...(o.store === 'etcd' ? ['etcd' as const] : []), ...(podPairs ? ['ping' as const] : []), ...(podPairs && (o.verifySeconds ?? 2) > 0 ? ['tcpdump' as const] : [])];
}

export async function clusterUp(o: UpOptions, progress: Progress): Promise<UpResult> {
  // Before anything is touched: a missing program found half-way would leave half a cluster.
  requirePrograms(upPrograms(o), 'overlay-ipsec up');
  const stateDir = o.stateDir;
  // A cluster that still runs is not a crashed one: replacing it is for `down` to decide.
  const previous = await tryLoadClusterState(stateDir);
  const running = previous ? await runningParts(previous) : [];
  if (running.length) {
    throw new ClusterRunning(`a cluster (prefix ${previous!.prefix}, started ${previous!.createdAt}) is already running from ${stateDir}: ${running.slice(0, 3).join(', ')}${running.length > 3 ? ', …' : ''}; \`overlay-ipsec down\` removes it`);
  }
  progress.phase('cleaning up any earlier run');
  const old = await clusterDown(stateDir, o.prefix);
  progress.done(old.namespaces.length || old.hadState ? `removed ${old.namespaces.length} namespaces${old.hadState ? ' and the old record' : ''}` : 'nothing left over');
  const foreign = CLUSTER_DIRS.filter((d) => existsSync(path.join(stateDir, d)) && (d === 'store' || d === 'operator'));
  if (foreign.length) {
    throw new UsageError(`${stateDir} already holds ${foreign.join(' and ')} that \`up\` did not make (a real operator's state?); pass --state-dir with a directory of its own`);
  }

  progress.phase('checking the config');
  const sources = o.configFiles?.length ? o.configFiles : DEFAULT_CONFIG_FILES;
  // The underlay we build is sized for the pod MTU; 9000 is the most it can carry.
  const configDir = path.join(stateDir, 'config');
  let cfg;
  try {
    cfg = await prepareConfig(sources, configDir, { noIpsec: o.noIpsec, underlayMtu: 9000, underlayCidr: UNDERLAY_CIDR });
    checkClusterSize(o.masters + o.workers, cfg.network, sources, UNDERLAY_CIDR);
  } catch (err) {
    await rm(configDir, { recursive: true, force: true });
    throw err;
  }
  const ipsec = cfg.network.ipsec.mode === 'Full';
  progress.done(`${sources.map((s) => path.basename(s)).join(' + ')}: clusterNetwork ${cfg.network.clusterNetwork.map((c) => `${c.cidr}/hostPrefix ${c.hostPrefix}`).join(', ')}, MTU ${cfg.network.mtu}, IPsec ${cfg.network.ipsec.mode}`);
  for (const w of cfg.warnings) progress.note(`warning: ${w}`);

  let plan: TopologyPlan;
  try {
    const cn = cfg.network.clusterNetwork[0]!;
    plan = planTopology({ prefix: o.prefix, masters: o.masters, workers: o.workers, podsPerNode: o.podsPerNode, clusterNetwork: cn.cidr, hostPrefix: cn.hostPrefix, mtu: cfg.network.mtu });
  } catch (err) {
    if (err instanceof TopologyError) throw new UsageError(`cannot plan the cluster: ${err.message}`);
    throw err;
  }

  const logs = logsDir(stateDir);
  await mkdir(logs, { recursive: true });
  const state: ClusterState = {
    version: CLUSTER_STATE_VERSION,
    prefix: o.prefix,
    stateDir,
    ipsec,
    daemon: 'agent',
    configFiles: cfg.files,
    createdAt: new Date().toISOString(),
    supervisorPid: process.pid,
    ownedPaths: CLUSTER_DIRS,
    daemons: [],
    nodes: [],
    plan,
  };
  await saveClusterState(state);
  await saveTopology(topologyFile(stateDir), plan);

  const nodesTotal = plan.nodes.length;
  const podsTotal = plan.nodes.reduce((a, n) => a + n.pods.length, 0);
  // Every namespace of the cluster shares the host's one neighbour table: sized before anything resolves.
  const room = await ensureNeighbourRoom(nodesTotal, podsTotal);
  if (room.kind === 'raised') {
    progress.note(`raised the host's neighbour table limits (shared by all namespaces) for ${nodesTotal} nodes: net.ipv4.neigh.default.gc_thresh2 ${room.from.gcThresh2} → ${room.to.gcThresh2}, gc_thresh3 ${room.from.gcThresh3} → ${room.to.gcThresh3}`);
  } else if (room.kind === 'unknown' && nodesTotal > 20) {
    progress.note(`warning: ${room.why}; above ~30 nodes the host's neighbour table (gc_thresh3, 1024 by default) overflows and the nodes' packets are dropped — set net.ipv4.neigh.default.gc_thresh2/3 on the host to at least ${neighboursNeeded(nodesTotal, podsTotal) + 1024}`);
  }
  progress.phase(`building ${1 + nodesTotal + podsTotal} namespaces`);
  let nodesBuilt = 0;
  let podsBuilt = 0;
  await buildTopology(plan, (e) => {
    if (e.step === 'node') nodesBuilt++;
    if (e.step === 'pod') podsBuilt++;
    progress.update(`${e.step === 'namespaces' || e.step === 'clean' || e.step === 'links' ? e.step : `${nodesBuilt}/${nodesTotal} nodes, ${podsBuilt}/${podsTotal} pods`}`);
  });
  progress.done(`${plan.underlay.netns} (switch ${plan.underlay.network}), ${nodesTotal} nodes, ${podsTotal} pods`);

  let etcd: ClusterEtcd | undefined;
  if (o.store === 'etcd') {
    const members = o.etcdMembers ?? 3;
    progress.phase(`starting etcd: ${members} members with TLS and auth, a join file per node`);
    etcd = await startClusterEtcd({ main: MAIN, stateDir, topology: plan, members, logs }, async (d) => {
      state.daemons.push(d);
      await saveClusterState(state);
    }, (line) => progress.update(line));
    state.etcd = { members: etcd.plan.members.map((m) => ({ name: m.name, netns: m.netns, ip: m.ip })), endpoints: etcd.endpoints, adminIp: etcd.plan.adminIp, adminDir: etcd.adminDir };
    await saveClusterState(state);
    progress.done(`${etcd.plan.members.map((m) => `${m.netns} ${m.ip}`).join(', ')}; join files in ${path.join(stateDir, HOSTS_DIR)}/<node>/`);
  }

  progress.phase('starting the operator');
  const opLog = path.join(logs, 'operator.log');
  // It signs every node's certificate while the agents already running negotiate: on one machine
  // it must not wait for a share of CPU behind a hundred of them (up-start.ts).
  const op = await spawnDaemon(plan.underlay.netns, [
    process.execPath, MAIN, 'operator', '--state-dir', stateDir, ...(etcd ? ['--store-config', etcd.operatorCredentials] : []), '--config', ...cfg.files,
    '--underlay-mtu', String(plan.underlay.mtu), '--underlay-cidr', plan.underlay.network, '--key-algorithm', 'ecdsa', '--log', opLog,
  ], path.join(logs, 'operator.out'), process.env, STARTING_NICE);
  state.daemons.push({ role: 'operator', ...op, log: opLog });
  await saveClusterState(state);
  await waitForDaemon(op, 'operator', async () => (await logEvents(opLog)).some((e) => e.msg === 'operator running'), 30_000);
  progress.done(`pid ${op.pid} in ${plan.underlay.netns}, store ${etcd ? `etcd ${etcd.endpoints.join(',')}` : storeDir(stateDir)}, CA in ${operatorDir(stateDir)}`);

  // The agent runs each node's data path in both modes: with IPsec off it carries plain Geneve.
  const hosts = etcd?.hosts;
  const driver: NodeDaemonDriver = new AgentDriver(MAIN, stateDir, logs, o.keylog === true, hosts ? { host: (n) => hosts.get(n)! } : undefined);
  progress.phase('starting node agents');
  const planOrder = new Map(plan.nodes.map((n, i) => [n.name, i]));
  const records = await startNodeDaemons(plan.nodes, driver, progress, async (d) => {
    // Recorded as each one is known, listed in plan order (the operator first) however they finished.
    state.daemons.push(d);
    state.daemons.sort((a, b) => (a.node ? planOrder.get(a.node) ?? -1 : -1) - (b.node ? planOrder.get(b.node) ?? -1 : -1));
    await saveClusterState(state);
  });
  for (const n of plan.nodes) {
    state.nodes.push({ name: n.name, role: n.role, netns: n.netns, underlayIp: n.underlayIp, subnet: n.subnet, systemId: await driver.systemId(n) });
  }
  await saveClusterState(state);
  progress.done(`${nodesTotal}/${nodesTotal} running`);

  progress.phase(ipsec ? 'establishing tunnels and IPsec SAs' : 'establishing Geneve tunnels');
  const tunnels = await waitForMesh(plan.nodes, driver, records, { ipsec, logs, ...(o.tunnelTimeoutS !== undefined ? { timeoutS: o.tunnelTimeoutS } : {}) }, progress);
  progress.done();

  progress.phase('pod-to-pod check across every pair of nodes');
  const pairs = podPairs(plan.nodes);
  const results: PingResult[] = [];
  // One process per source pod, a bounded number at once: 100 nodes are 9,900 pairs. A pair
  // answers with its first reply; ping tries every 0.2 s for 3 s.
  await forEachLimited(bySource(pairs), PING_SOURCES, async (group) => {
    results.push(...await pingFromPod(group[0]!.from, group, 1, 0.2, 3));
    const ok = results.filter((r) => r.ok).length;
    progress.update(`${ok}/${pairs.length} answered${results.length > ok ? `, ${results.length - ok} did not` : ''}`);
  });
  const failedPings = results.filter((r) => !r.ok);
  if (failedPings.length) progress.fail(`${failedPings.length}/${pairs.length} without an answer`);
  else progress.done(`${pairs.length}/${pairs.length} pod pairs answered`);

  const pairKey = (p: PodPair): string => `${p.from.netns} ${p.to.netns}`;
  const byPair = new Map(results.map((r) => [pairKey(r), r]));
  const summary: ClusterSummary = {
    ipsec,
    daemon: state.daemon,
    nodes: state.nodes.map((n) => ({ name: n.name, role: n.role, underlay_ip: n.underlayIp, subnet: n.subnet, system_id: n.systemId, netns: n.netns })),
    tunnels,
    pods: podsTotal,
    pod_checks: pairs.map((p) => byPair.get(pairKey(p))!).map((r) => ({ from: r.from.name, to: r.to.name, ip: r.to.ip, ok: r.ok, rtt_ms: r.rttMs })),
    warnings: cfg.warnings,
  };

  const vs = o.verifySeconds ?? 2;
  if (vs > 0 && pairs.length > 0) {
    progress.phase(`checking the underlay (${vs} s capture)`);
    // Every pair has just answered the pod check; the capture's traffic need not be every pair
    // again: at 100 nodes that was 9,900 pings and 200 s on a busy machine (docs/scale.md).
    const v = await verifyCluster(state, { seconds: vs, destinations: CLOSING_DESTINATIONS });
    summary.verify = { packets: v.packets, encrypted: v.encrypted, spis: v.spis, exit_code: v.exit_code, ...(v.control_plane ? { control_plane: v.control_plane } : {}) };
    const p = v.packets;
    const line = `ESP ${p.esp}, IKE ${p.ike}, cleartext Geneve ${p.geneve_cleartext}, other ${p.other}`;
    if (v.encrypted) progress.done(`${line}: encrypted`);
    else progress.fail(`${line}: NOT encrypted`);
  }
  return { state, summary };
}

/** The summary as text: nodes, tunnels, pod checks, the underlay verdict, what to run next. */
export function formatSummary(s: ClusterSummary, stateDir: string): string {
  const pad = (x: string, n: number) => x.padEnd(n);
  const lines: string[] = [''];
  lines.push(`cluster up: ${s.nodes.length} nodes, ${s.pods} pods, IPsec ${s.ipsec ? 'on (IKEv2, ESP AES-GCM-256 in UDP 4500)' : 'off (plain Geneve)'}`);
  lines.push('');
  lines.push(`  ${pad('NODE', 9)} ${pad('UNDERLAY IP', 15)} ${pad('SUBNET', 16)} ${pad('TUNNELS', 8)} ${s.ipsec ? `${pad('IKE SAs', 8)} ${pad('CHILD SAs', 10)} ` : ''}${pad('SYSTEM-ID', 36)} IPSEC`);
  for (const n of s.nodes) {
    const t = s.tunnels.find((x) => x.node === n.name);
    lines.push(`  ${pad(n.name, 9)} ${pad(n.underlay_ip, 15)} ${pad(n.subnet, 16)} ${pad(`${t?.established ?? 0}/${s.nodes.length - 1}`, 8)} ${s.ipsec ? `${pad(String(t?.ikeSas ?? 0), 8)} ${pad(String(t?.childSas ?? 0), 10)} ` : ''}${pad(n.system_id, 36)} ${t?.mode ?? '-'}`);
  }
  const cp = controlPlaneLine(s);
  if (cp) lines.push('', cp);
  lines.push('');
  const ok = s.pod_checks.filter((c) => c.ok);
  lines.push(`pod-to-pod: ${ok.length}/${s.pod_checks.length} pairs answered (ICMP, one pod per node to one pod on every other node)`);
  for (const c of s.pod_checks.filter((x) => !x.ok)) lines.push(`  no answer: ${c.from} → ${c.to} (${c.ip})`);
  if (s.verify) {
    const p = s.verify.packets;
    const verdict = s.verify.encrypted ? 'encrypted: only ESP and IKE between nodes'
      : p.geneve_cleartext > 0 ? `NOT encrypted: ${p.geneve_cleartext} cleartext Geneve packets between nodes${s.ipsec ? '' : ' (IPsec is off)'}`
        : 'NOT shown encrypted: no ESP seen';
    lines.push(`underlay: ESP ${p.esp}, IKE ${p.ike}, cleartext Geneve ${p.geneve_cleartext}, other ${p.other} — ${verdict}`);
    const cp = s.verify.control_plane;
    if (cp) lines.push(`control plane: TLS to etcd ${cp.tls}, not yet judged ${cp.unsynced}, cleartext ${cp.cleartext}${cp.cleartext ? ' — NOT ENCRYPTED' : ''}`);
  }
  const sd = stateDir === '/var/lib/overlay-ipsec' ? '' : ` --state-dir ${stateDir}`;
  const w = s.nodes.find((n) => n.role === 'worker')?.name ?? s.nodes[0]?.name ?? 'worker0';
  lines.push('');
  lines.push('next:');
  const next: [string, string][] = [
    [`overlay-ipsec pods${sd}`, 'the pods, their addresses and namespaces'],
    [`ip netns exec ${s.nodes[0] ? `${s.nodes[0].netns}-pod0` : 'oi-master0-pod0'} ping <pod ip>`, 'talk from a pod'],
    [`overlay-ipsec tunnels show --node ${w}${sd}`, 'the seed\'s tunnels/show'],
    [`overlay-ipsec ipsec status --node ${w}${sd}`, 'the seed\'s ipsec status'],
    [`overlay-ipsec verify${sd}`, 'capture the underlay: ESP or cleartext?'],
    [`overlay-ipsec down${sd}`, 'remove everything'],
  ];
  const width = Math.max(...next.map(([c]) => c.length));
  for (const [c, what] of next) lines.push(`  ${c.padEnd(width)}   ${what}`);
  return lines.join('\n') + '\n';
}

/** Which nodes lost the control plane (their store), in the nodes' own words; static stability keeps their tunnels. */
function controlPlaneLine(s: ClusterSummary): string | undefined {
  const reports = s.tunnels.filter((t) => t.controlPlane);
  const lost = reports.filter((t) => t.controlPlane!.state === 'unreachable' || t.controlPlane!.liveness === 'lost');
  if (reports.length === 0) return undefined;
  if (lost.length === 0) return `control plane: all ${reports.length} nodes reach the store`;
  const what = lost.map((t) => `${t.node} (${t.controlPlane!.state === 'unreachable' ? `unreachable since ${t.controlPlane!.since}` : 'liveness lease lost'})`);
  return `control plane LOST on ${lost.length}/${reports.length} nodes: ${what.join(', ')}; their tunnels stay up`;
}
