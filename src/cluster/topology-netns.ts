import { ownsNamespace, checkPrefix } from './names.js';
import { ipBatch, run } from './run.js';
import type { NodePlan, TopologyPlan } from './topology.js';
import { pidAlive } from '../util/pid.js';

/**
 * `ip link` settings that make a link segment like a NIC: a UDP_SEGMENT super-datagram (our
 * agents send runs of ESP packets that way) is cut into real datagrams by the kernel's software
 * GSO before the device, so every tap on the way — tcpdump on the node, the underlay bridge or the
 * peer — records one ESP packet per datagram, as on a wire. A veth's default would pass the run
 * on whole as far as the receiving socket. (The receiving side needs nothing: a veth's GRO is off
 * unless turned on or XDP is attached, so nothing merges datagrams before the taps.)
 */
export const SEGMENT_LIKE_A_NIC = ['gso_max_segs', '1'] as const;

/**
 * Builds a planned cluster out of network namespaces and tears it down again:
 *
 *   <prefix>-underlay: bridge br-underlay ── u-<node> ═ veth ═ eth0 in <prefix>-<node> (underlay /24,
 *                      both ends segmenting like a NIC)
 *   <prefix>-<node>:   bridge br-pods (gateway .1/hostPrefix) ── pod<N> ═ veth ═ eth0 in <prefix>-<node>-pod<N>
 *
 * IPv6 is switched off in every namespace so the underlay carries only what the overlay sends
 * (no router solicitations or MLD reports muddying a capture). Nodes forward IPv4. The route of the
 * cluster network via the overlay TUN is added by the node's overlay process once its TUN exists.
 */

export interface BuildProgress {
  (event: { step: 'clean' | 'namespaces' | 'links' | 'underlay' | 'node' | 'pod'; name: string }): void;
}

type Line = string[];

/** sysctls of a namespace: no IPv6 anywhere; nodes route. One process per namespace, in parallel. */
function sysctls(ns: string, forward: boolean): Promise<unknown> {
  const settings = ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'];
  if (forward) settings.push('net.ipv4.ip_forward=1');
  return run(['ip', 'netns', 'exec', ns, 'sysctl', '-q', '-w', ...settings]);
}

/**
 * Builds the whole plan. Any leftovers with the plan's prefix (a crashed earlier run) are removed
 * first; if building fails half-way, what was built is removed and the error rethrown.
 */
export async function buildTopology(plan: TopologyPlan, progress: BuildProgress = () => {}): Promise<void> {
  progress({ step: 'clean', name: plan.prefix });
  await teardownTopology(plan.prefix);
  try {
    await buildParts(plan, plan.nodes, true, progress);
  } catch (err) {
    await teardownTopology(plan.prefix).catch(() => {});
    throw err;
  }
}

/** Builds one node and its pods into a running cluster (a node joining). */
export async function buildNode(plan: TopologyPlan, node: NodePlan, progress: BuildProgress = () => {}): Promise<void> {
  try {
    await buildParts(plan, [node], false, progress);
  } catch (err) {
    await removeNode(plan, node).catch(() => {});
    throw err;
  }
}

/**
 * The build in phases, each one `ip -batch` per namespace (run in parallel) or one for the host:
 * namespaces → sysctls → bridges → veth pairs (created straight into their namespaces) → addresses,
 * MTUs, bridge ports and routes.
 */
async function buildParts(plan: TopologyPlan, nodes: readonly NodePlan[], withUnderlay: boolean, progress: BuildProgress): Promise<void> {
  const u = plan.underlay;
  const pods = nodes.flatMap((n) => n.pods.map((p) => ({ node: n, pod: p })));
  const namespaces = [...(withUnderlay ? [u.netns] : []), ...nodes.map((n) => n.netns), ...pods.map((x) => x.pod.netns)];

  progress({ step: 'namespaces', name: namespaces.join(' ') });
  await ipBatch(null, namespaces.map((ns) => ['netns', 'add', ns]));
  await Promise.all([
    ...(withUnderlay ? [sysctls(u.netns, false)] : []),
    ...nodes.map((n) => sysctls(n.netns, true)),
    ...pods.map((x) => sysctls(x.pod.netns, false)),
  ]);

  // Bridges first: veth ends are enslaved to them below.
  await Promise.all([
    ...(withUnderlay ? [ipBatch(u.netns, [
      ['link', 'set', 'lo', 'up'],
      ['link', 'add', u.bridge, 'type', 'bridge', 'stp_state', '0'],
      ['link', 'set', u.bridge, 'mtu', String(u.mtu), ...SEGMENT_LIKE_A_NIC, 'up'],
    ])] : []),
    ...nodes.map((n) => ipBatch(n.netns, [
      ['link', 'set', 'lo', 'up'],
      ['link', 'add', n.podBridge, 'type', 'bridge', 'stp_state', '0'],
      ['link', 'set', n.podBridge, 'mtu', String(plan.mtu), 'up'],
      ['addr', 'add', n.gatewayCidr, 'dev', n.podBridge],
    ])),
  ]);

  progress({ step: 'links', name: plan.prefix });
  await ipBatch(null, [
    // Both ends of a node's underlay link segment like a NIC (see SEGMENT_LIKE_A_NIC).
    ...nodes.map((n): Line => ['link', 'add', n.underlayIf, ...SEGMENT_LIKE_A_NIC, 'netns', n.netns, 'type', 'veth', 'peer', 'name', n.underlayPort, ...SEGMENT_LIKE_A_NIC, 'netns', u.netns]),
    ...pods.map(({ node, pod }): Line => ['link', 'add', pod.podIf, 'netns', pod.netns, 'type', 'veth', 'peer', 'name', pod.nodeIf, 'netns', node.netns]),
  ]);

  await Promise.all([
    ipBatch(u.netns, nodes.map((n) => ['link', 'set', n.underlayPort, 'mtu', String(u.mtu), 'master', u.bridge, 'up'])).then(() => progress({ step: 'underlay', name: u.netns })),
    ...nodes.map((n) => ipBatch(n.netns, [
      ['link', 'set', n.underlayIf, 'mtu', String(u.mtu), 'up'],
      ['addr', 'add', n.underlayCidr, 'dev', n.underlayIf],
      ...n.pods.map((p): Line => ['link', 'set', p.nodeIf, 'mtu', String(plan.mtu), 'master', n.podBridge, 'up']),
    ]).then(() => progress({ step: 'node', name: n.name }))),
    ...pods.map(({ pod }) => ipBatch(pod.netns, [
      ['link', 'set', 'lo', 'up'],
      ['link', 'set', pod.podIf, 'mtu', String(plan.mtu), 'up'],
      ['addr', 'add', pod.cidr, 'dev', pod.podIf],
      ['route', 'add', 'default', 'via', pod.gateway, 'dev', pod.podIf],
    ]).then(() => progress({ step: 'pod', name: pod.name }))),
  ]);
}

/** Removes one node and its pods (a node leaving): its processes first, then its namespaces. */
export async function removeNode(_plan: TopologyPlan, node: NodePlan): Promise<void> {
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
  if (namespaces.length === 0) return;
  const pids = new Set((await Promise.all(namespaces.map(namespacePids))).flat());
  await endProcesses([...pids], graceMs);
  await ipBatch(null, namespaces.map((ns) => ['netns', 'del', ns]), true);
}

/** SIGTERM each PID, wait up to graceMs for all to go, SIGKILL the rest and wait for them. */
export async function endProcesses(pids: number[], graceMs: number): Promise<void> {
  const signal = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch { /* already gone */ }
  };
  for (const pid of pids) signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  let left = pids.filter(pidAlive);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    left = left.filter(pidAlive);
  }
  for (const pid of left) signal(pid, 'SIGKILL');
  const killDeadline = Date.now() + 2000;
  while (left.length > 0 && Date.now() < killDeadline) {
    await new Promise((r) => setTimeout(r, 20));
    left = left.filter(pidAlive);
  }
}
