import { type Cidr, cidrContains, formatCidr, formatIpv4, cidrsOverlap, parseCidr, cidrSize, subnetAt } from '../wire/address.js';
import { vniForSubnet } from '../overlay/vni.js';
import {
  DEFAULT_PREFIX, DEFAULT_TUN, NODE_UNDERLAY_IF, POD_BRIDGE, POD_IF, UNDERLAY_BRIDGE,
  checkNodeName, checkPrefix, nodeNs, podName, podNs, podPortName, underlayNs, underlayPortName,
} from './names.js';

/**
 * The local cluster's shape, computed without touching the system: which namespaces, addresses,
 * subnets and MTUs the seed's cluster has. topology-netns.ts builds it; `overlay-ipsec pods` and
 * the agents read it.
 */

/** Overhead the underlay must carry above the pod MTU: Geneve's 100 (OVN's budget) + ESP-in-UDP 46. */
export const UNDERLAY_OVERHEAD = 146;

export interface TopologyOptions {
  /** Namespace name prefix (default `oi`). */
  prefix?: string;
  masters?: number;
  workers?: number;
  podsPerNode?: number;
  /** The cluster network pods take their addresses from (default the seed's 10.254.0.0/16). */
  clusterNetwork?: string;
  /** Prefix length of each node's pod subnet (default 24). */
  hostPrefix?: number;
  /** Pod MTU (default the seed's 1400). */
  mtu?: number;
  /** Underlay MTU (default mtu + 146, i.e. 1546). */
  underlayMtu?: number;
  /** The underlay network (default the seed's 192.168.7.0/24). */
  underlayNetwork?: string;
  /** Host number of the first master (default 21 → 192.168.7.21) and of the first worker (11). */
  firstMasterHost?: number;
  firstWorkerHost?: number;
  /** Node → pod subnet, e.g. the operator's allocations. Nodes not named get the next free block. */
  subnets?: Record<string, string>;
  /** The TUN each node's overlay process opens (default `ovn-k8s-tun0`). */
  tunName?: string;
}

export type NodeRole = 'master' | 'worker';

export interface PodPlan {
  name: string;
  node: string;
  netns: string;
  /** Pod address, e.g. 10.254.0.2. */
  ip: string;
  /** Pod address with the subnet's prefix, as configured on its interface. */
  cidr: string;
  gateway: string;
  /** The pod's interface (in its namespace) and its veth peer (in the node namespace). */
  podIf: string;
  nodeIf: string;
}

export interface NodePlan {
  name: string;
  role: NodeRole;
  netns: string;
  /** Underlay address and its /prefix form; the interface inside the node namespace. */
  underlayIp: string;
  underlayCidr: string;
  underlayIf: string;
  /** The node's port on the underlay bridge (in the underlay namespace). */
  underlayPort: string;
  /** The node's pod subnet, the gateway (.1) on the pod bridge, and the VNI packets to it carry. */
  subnet: string;
  gateway: string;
  gatewayCidr: string;
  podBridge: string;
  vni: number;
  tunName: string;
  pods: PodPlan[];
}

export interface TopologyPlan {
  prefix: string;
  underlay: { netns: string; bridge: string; network: string; mtu: number };
  clusterNetwork: string;
  hostPrefix: number;
  mtu: number;
  nodes: NodePlan[];
}

export class TopologyError extends Error {
  constructor(readonly key: string, message: string) {
    super(`${key}: ${message}`);
    this.name = 'TopologyError';
  }
}

interface Resolved {
  prefix: string;
  masters: number;
  workers: number;
  podsPerNode: number;
  cluster: Cidr;
  hostPrefix: number;
  mtu: number;
  underlayMtu: number;
  underlay: Cidr;
  firstMasterHost: number;
  firstWorkerHost: number;
  subnets: Record<string, string>;
  tunName: string;
}

function resolve(o: TopologyOptions): Resolved {
  const int = (key: string, v: number | undefined, def: number, min: number, max: number): number => {
    const n = v ?? def;
    if (!Number.isInteger(n) || n < min || n > max) throw new TopologyError(key, `${n} is not an integer in ${min}..${max}`);
    return n;
  };
  const cidr = (key: string, v: string | undefined, def: string): Cidr => {
    const p = parseCidr(v ?? def);
    if (!p.ok) throw new TopologyError(key, p.problem + (p.canonical ? ` (use ${p.canonical})` : ''));
    return p.cidr;
  };
  const prefix = (() => {
    try {
      return checkPrefix(o.prefix ?? DEFAULT_PREFIX);
    } catch (err) {
      throw new TopologyError('prefix', (err as Error).message);
    }
  })();
  const cluster = cidr('clusterNetwork', o.clusterNetwork, '10.254.0.0/16');
  const hostPrefix = int('hostPrefix', o.hostPrefix, 24, cluster.prefix, 30);
  const mtu = int('mtu', o.mtu, 1400, 576, 9000 - UNDERLAY_OVERHEAD);
  const underlayMtu = int('underlayMtu', o.underlayMtu, mtu + UNDERLAY_OVERHEAD, 576, 9000);
  if (underlayMtu < mtu + UNDERLAY_OVERHEAD) {
    throw new TopologyError('underlayMtu', `${underlayMtu} cannot carry pod MTU ${mtu} (needs ≥ ${mtu + UNDERLAY_OVERHEAD}: Geneve 100 + ESP-in-UDP 46)`);
  }
  const underlay = cidr('underlayNetwork', o.underlayNetwork, '192.168.7.0/24');
  if (underlay.prefix > 29) throw new TopologyError('underlayNetwork', `${formatCidr(underlay)} is too small`);
  if (cidrsOverlap(underlay, cluster)) throw new TopologyError('underlayNetwork', `${formatCidr(underlay)} overlaps the cluster network ${formatCidr(cluster)}`);
  const tunName = o.tunName ?? DEFAULT_TUN;
  if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(tunName)) throw new TopologyError('tunName', `"${tunName}" is not a valid interface name`);
  return {
    prefix,
    masters: int('masters', o.masters, 3, 0, 200),
    workers: int('workers', o.workers, 2, 0, 200),
    podsPerNode: int('podsPerNode', o.podsPerNode, 2, 0, 250),
    cluster,
    hostPrefix,
    mtu,
    underlayMtu,
    underlay,
    firstMasterHost: int('firstMasterHost', o.firstMasterHost, 21, 1, cidrSize(underlay) - 2),
    firstWorkerHost: int('firstWorkerHost', o.firstWorkerHost, 11, 1, cidrSize(underlay) - 2),
    subnets: o.subnets ?? {},
    tunName,
  };
}

/** Plans the cluster: masters master0.. then workers worker0.., the seed's addresses. */
export function planTopology(options: TopologyOptions = {}): TopologyPlan {
  const r = resolve(options);
  if (r.masters + r.workers === 0) throw new TopologyError('masters', 'a cluster needs at least one node');
  const plan: TopologyPlan = {
    prefix: r.prefix,
    underlay: { netns: underlayNs(r.prefix), bridge: UNDERLAY_BRIDGE, network: formatCidr(r.underlay), mtu: r.underlayMtu },
    clusterNetwork: formatCidr(r.cluster),
    hostPrefix: r.hostPrefix,
    mtu: r.mtu,
    nodes: [],
  };
  for (let i = 0; i < r.masters; i++) addNodeToPlan(plan, { name: `master${i}`, role: 'master', pods: r.podsPerNode, subnets: r.subnets, tunName: r.tunName, firstHost: r.firstMasterHost });
  for (let i = 0; i < r.workers; i++) addNodeToPlan(plan, { name: `worker${i}`, role: 'worker', pods: r.podsPerNode, subnets: r.subnets, tunName: r.tunName, firstHost: r.firstWorkerHost });
  return plan;
}

export interface AddNodeOptions {
  name: string;
  role: NodeRole;
  pods: number;
  /** Pod subnet for this node (or a map holding it); otherwise the first free block. */
  subnet?: string;
  subnets?: Record<string, string>;
  /** Underlay host number to start looking from (default 21 for masters, 11 for workers). */
  firstHost?: number;
  tunName?: string;
}

/**
 * Adds one node to a plan (in place) and returns it: the next free underlay address from the
 * role's first host on, the next free pod subnet. Used by planTopology and when a node joins.
 */
export function addNodeToPlan(plan: TopologyPlan, o: AddNodeOptions): NodePlan {
  const name = (() => {
    try {
      return checkNodeName(o.name);
    } catch (err) {
      throw new TopologyError('node', (err as Error).message);
    }
  })();
  if (plan.nodes.some((n) => n.name === name)) throw new TopologyError('node', `${name} is already in the cluster`);
  const underlay = mustCidr(plan.underlay.network);
  const cluster = mustCidr(plan.clusterNetwork);

  const taken = new Set(plan.nodes.map((n) => n.underlayIp));
  const lastHost = cidrSize(underlay) - 2;
  let host = o.firstHost ?? (o.role === 'master' ? 21 : 11);
  let underlayIp = '';
  for (let tries = 0; tries < lastHost; tries++, host = host >= lastHost ? 1 : host + 1) {
    const ip = formatIpv4(underlay.base + host);
    if (!taken.has(ip)) {
      underlayIp = ip;
      break;
    }
  }
  if (!underlayIp) throw new TopologyError('underlayNetwork', `no free address left in ${plan.underlay.network} for ${name}`);

  const subnet = pickSubnet(plan, cluster, name, o.subnet ?? o.subnets?.[name]);
  const gateway = subnet.base + 1;
  const lastPod = cidrSize(subnet) - 2; // broadcast excluded
  if (o.pods + 1 > lastPod) throw new TopologyError('podsPerNode', `${o.pods} pods do not fit ${formatCidr(subnet)}`);
  const pods: PodPlan[] = [];
  for (let i = 0; i < o.pods; i++) {
    const ip = subnet.base + 2 + i;
    pods.push({
      name: podName(name, i),
      node: name,
      netns: podNs(plan.prefix, name, i),
      ip: formatIpv4(ip),
      cidr: `${formatIpv4(ip)}/${subnet.prefix}`,
      gateway: formatIpv4(gateway),
      podIf: POD_IF,
      nodeIf: podPortName(i),
    });
  }
  const node: NodePlan = {
    name,
    role: o.role,
    netns: nodeNs(plan.prefix, name),
    underlayIp,
    underlayCidr: `${underlayIp}/${underlay.prefix}`,
    underlayIf: NODE_UNDERLAY_IF,
    underlayPort: underlayPortName(name),
    subnet: formatCidr(subnet),
    gateway: formatIpv4(gateway),
    gatewayCidr: `${formatIpv4(gateway)}/${subnet.prefix}`,
    podBridge: POD_BRIDGE,
    vni: vniForSubnet(cluster, subnet),
    tunName: o.tunName ?? plan.nodes[0]?.tunName ?? DEFAULT_TUN,
    pods,
  };
  plan.nodes.push(node);
  return node;
}

/** Removes a node from a plan (in place); returns it, or undefined when absent. */
export function removeNodeFromPlan(plan: TopologyPlan, name: string): NodePlan | undefined {
  const i = plan.nodes.findIndex((n) => n.name === name);
  if (i < 0) return undefined;
  return plan.nodes.splice(i, 1)[0];
}

function pickSubnet(plan: TopologyPlan, cluster: Cidr, node: string, wanted: string | undefined): Cidr {
  const used = plan.nodes.map((n) => mustCidr(n.subnet));
  if (wanted !== undefined) {
    const p = parseCidr(wanted);
    if (!p.ok) throw new TopologyError(`subnets.${node}`, p.problem);
    if (p.cidr.prefix !== plan.hostPrefix || !cidrContains(cluster, p.cidr)) {
      throw new TopologyError(`subnets.${node}`, `${wanted} is not a /${plan.hostPrefix} inside ${plan.clusterNetwork}`);
    }
    const clash = plan.nodes.find((n) => cidrsOverlap(mustCidr(n.subnet), p.cidr));
    if (clash) throw new TopologyError(`subnets.${node}`, `${wanted} is already ${clash.name}'s`);
    return p.cidr;
  }
  const blocks = 2 ** (plan.hostPrefix - cluster.prefix);
  for (let i = 0; i < blocks; i++) {
    const c = subnetAt(cluster, plan.hostPrefix, i);
    if (!used.some((u) => cidrsOverlap(u, c))) return c;
  }
  throw new TopologyError('clusterNetwork', `${plan.clusterNetwork} has no free /${plan.hostPrefix} left for ${node}`);
}

function mustCidr(text: string): Cidr {
  const p = parseCidr(text);
  if (!p.ok) throw new TopologyError('plan', `bad CIDR in plan: ${text}`);
  return p.cidr;
}

/** `overlay-ipsec pods`: `[{"name","node","ip","netns"}]`. */
export interface PodDescription {
  name: string;
  node: string;
  ip: string;
  netns: string;
}

export function describePods(plan: TopologyPlan): PodDescription[] {
  return plan.nodes.flatMap((n) => n.pods.map((p) => ({ name: p.name, node: p.node, ip: p.ip, netns: p.netns })));
}

/** The routes a node's overlay process installs once its TUN exists: the cluster network via the
 * TUN, with the gateway as source so the node itself speaks from its pod subnet. The node's own
 * subnet stays on the pod bridge: its connected route is longer and wins. */
export function overlayRoutes(plan: TopologyPlan, node: NodePlan): { dst: string; src: string }[] {
  return [{ dst: plan.clusterNetwork, src: node.gateway }];
}
