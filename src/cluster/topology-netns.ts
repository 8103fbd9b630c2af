import { writeFile, readFile, rename, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { ownsNamespace, checkPrefix } from './names.js';
import { run } from './run.js';
import { type NodePlan, type PodPlan, type TopologyPlan, describePods } from './topology.js';

/**
 * Builds a planned cluster out of network namespaces and tears it down again:
 *
 *   <prefix>-underlay: bridge br-underlay ── u-<node> ═ veth ═ eth0 in <prefix>-<node> (underlay /24)
 *   <prefix>-<node>:   bridge br-pods (gateway .1/hostPrefix) ── pod<N> ═ veth ═ eth0 in <prefix>-<node>-pod<N>
 *
 * IPv6 is switched off in every namespace so the underlay carries only what the overlay sends
 * (no router solicitations or MLD reports muddying a capture). Nodes forward IPv4. The route of the
 * cluster network via the overlay TUN is added by the node's overlay process once its TUN exists.
 */

export interface BuildProgress {
  (event: { step: 'clean' | 'underlay' | 'node' | 'pod'; name: string }): void;
}

const ip = (...args: string[]) => run(['ip', ...args]);
const ipn = (ns: string, ...args: string[]) => run(['ip', '-n', ns, ...args]);
const sysctl = (ns: string, ...settings: string[]) => run(['ip', 'netns', 'exec', ns, 'sysctl', '-q', '-w', ...settings]);

async function addNamespace(ns: string, forward: boolean): Promise<void> {
  await ip('netns', 'add', ns);
  await ipn(ns, 'link', 'set', 'lo', 'up');
  const settings = ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'];
  if (forward) settings.push('net.ipv4.ip_forward=1');
  await sysctl(ns, ...settings);
}

/**
 * Builds the whole plan. Any leftovers with the plan's prefix (a crashed earlier run) are removed
 * first; if building fails half-way, what was built is removed and the error rethrown.
 */
export async function buildTopology(plan: TopologyPlan, progress: BuildProgress = () => {}): Promise<void> {
  progress({ step: 'clean', name: plan.prefix });
  await teardownTopology(plan.prefix);
  try {
    progress({ step: 'underlay', name: plan.underlay.netns });
    await addNamespace(plan.underlay.netns, false);
    await ipn(plan.underlay.netns, 'link', 'add', plan.underlay.bridge, 'type', 'bridge', 'stp_state', '0');
    await ipn(plan.underlay.netns, 'link', 'set', plan.underlay.bridge, 'mtu', String(plan.underlay.mtu), 'up');
    for (const node of plan.nodes) await buildNode(plan, node, progress);
  } catch (err) {
    await teardownTopology(plan.prefix).catch(() => {});
    throw err;
  }
}

/** Builds one node and its pods (also used when a node joins a running cluster). */
export async function buildNode(plan: TopologyPlan, node: NodePlan, progress: BuildProgress = () => {}): Promise<void> {
  progress({ step: 'node', name: node.name });
  const u = plan.underlay;
  await addNamespace(node.netns, true);
  await ip('link', 'add', node.underlayIf, 'netns', node.netns, 'type', 'veth', 'peer', 'name', node.underlayPort, 'netns', u.netns);
  await ipn(u.netns, 'link', 'set', node.underlayPort, 'mtu', String(u.mtu), 'master', u.bridge, 'up');
  await ipn(node.netns, 'link', 'set', node.underlayIf, 'mtu', String(u.mtu), 'up');
  await ipn(node.netns, 'addr', 'add', node.underlayCidr, 'dev', node.underlayIf);

  await ipn(node.netns, 'link', 'add', node.podBridge, 'type', 'bridge', 'stp_state', '0');
  await ipn(node.netns, 'link', 'set', node.podBridge, 'mtu', String(plan.mtu), 'up');
  await ipn(node.netns, 'addr', 'add', node.gatewayCidr, 'dev', node.podBridge);
  for (const pod of node.pods) await buildPod(plan, node, pod, progress);
}

async function buildPod(plan: TopologyPlan, node: NodePlan, pod: PodPlan, progress: BuildProgress): Promise<void> {
  progress({ step: 'pod', name: pod.name });
  await addNamespace(pod.netns, false);
  await ip('link', 'add', pod.podIf, 'netns', pod.netns, 'type', 'veth', 'peer', 'name', pod.nodeIf, 'netns', node.netns);
  await ipn(node.netns, 'link', 'set', pod.nodeIf, 'mtu', String(plan.mtu), 'master', node.podBridge, 'up');
  await ipn(pod.netns, 'link', 'set', pod.podIf, 'mtu', String(plan.mtu), 'up');
  await ipn(pod.netns, 'addr', 'add', pod.cidr, 'dev', pod.podIf);
  await ipn(pod.netns, 'route', 'add', 'default', 'via', pod.gateway, 'dev', pod.podIf);
}

/** Removes one node and its pods (a node leaving): its processes first, then its namespaces. */
export async function removeNode(plan: TopologyPlan, node: NodePlan): Promise<void> {
  await removeNamespaces([...node.pods.map((p) => p.netns), node.netns]);
}

/** Namespaces whose names carry the prefix, as `ip netns list` shows them now. */
export async function listNamespaces(prefix: string): Promise<string[]> {
  checkPrefix(prefix);
  const { stdout } = await run(['ip', 'netns', 'list'], { check: false });
  return stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter((ns) => ns && ownsNamespace(prefix, ns));
}

/** PIDs of processes inside a namespace (`ip netns pids`). */
export async function namespacePids(ns: string): Promise<number[]> {
  const { stdout } = await run(['ip', 'netns', 'pids', ns], { check: false });
  return stdout.split('\n').map((l) => Number(l.trim())).filter((n) => Number.isInteger(n) && n > 0);
}

/**
 * Removes every namespace with the prefix and every process inside them — idempotent, and the way a
 * new run clears a crashed one's leftovers. Processes get SIGTERM, then SIGKILL after `graceMs`.
 * Their TUN devices and sockets go with them; veths and bridges go with the namespaces.
 */
export async function teardownTopology(prefix: string, graceMs = 3000): Promise<string[]> {
  const namespaces = await listNamespaces(prefix);
  await removeNamespaces(namespaces, graceMs);
  return namespaces;
}

async function removeNamespaces(namespaces: string[], graceMs = 3000): Promise<void> {
  const pids = new Set<number>();
  for (const ns of namespaces) for (const pid of await namespacePids(ns)) pids.add(pid);
  await endProcesses([...pids], graceMs);
  for (const ns of namespaces) await run(['ip', 'netns', 'del', ns], { check: false });
}

/** SIGTERM each PID, wait up to graceMs for all to go, SIGKILL the rest and wait for them. */
export async function endProcesses(pids: number[], graceMs: number): Promise<void> {
  const signal = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch { /* already gone */ }
  };
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (const pid of pids) signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  let left = pids.filter(alive);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    left = left.filter(alive);
  }
  for (const pid of left) signal(pid, 'SIGKILL');
  const killDeadline = Date.now() + 2000;
  while (left.length > 0 && Date.now() < killDeadline) {
    await new Promise((r) => setTimeout(r, 20));
    left = left.filter(alive);
  }
}

/** What was built, as JSON: the plan plus the pod list `overlay-ipsec pods` prints. */
export interface TopologyDescription {
  plan: TopologyPlan;
  pods: ReturnType<typeof describePods>;
}

export function describeTopology(plan: TopologyPlan): TopologyDescription {
  return { plan, pods: describePods(plan) };
}

/** Writes the description atomically (write, then rename) so a reader never sees half a file. */
export async function saveTopology(file: string, plan: TopologyPlan): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(describeTopology(plan), null, 2) + '\n', { mode: 0o644 });
  await rename(tmp, file);
}

export async function loadTopology(file: string): Promise<TopologyDescription> {
  const d = JSON.parse(await readFile(file, 'utf8')) as TopologyDescription;
  if (!d || typeof d !== 'object' || !d.plan || !Array.isArray(d.plan.nodes) || !Array.isArray(d.pods)) {
    throw new Error(`${file}: not a topology description (expected {"plan":{…},"pods":[…]})`);
  }
  return d;
}
