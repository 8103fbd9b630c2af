import { createHash } from 'node:crypto';
import { cidrContains, formatIpv4, parseCidr } from '../wire/address.js';
import type { NetworkDoc, NodeDoc, SubnetDoc } from '../store/documents.js';
import type { LocalSpec } from '../overlay/engine.js';
import type { PeerSpec } from '../overlay/peer-table.js';
import { vniForSubnet } from '../overlay/vni.js';
import { byCodeUnit } from '../util/text-order.js';

/**
 * The agent's desired state, computed from store documents only (no I/O): this node's overlay
 * spec, one peer per other registered node that has an underlay address and a subnet, the IPsec
 * mode and the pod MTU. Nodes that cannot be peers yet are listed with the reason.
 */
export interface AgentSelf {
  node: string;
  systemId: string;
  underlay: string;
}

export type IpsecMode = NetworkDoc['ipsec']['mode'];

export interface DesiredState {
  /** Pod traffic between nodes is protected only in Full mode (External: only traffic leaving the cluster). */
  ipsec: boolean;
  mode: IpsecMode;
  mtu: number;
  genevePort: number;
  clusterNetworks: string[];
  /** Undefined until the operator has allocated our subnet. */
  local: LocalSpec | undefined;
  /** The gateway (.1) of our subnet: the source of routes via the TUN. */
  gateway: string | undefined;
  peers: PeerSpec[];
  waiting: { node: string; reason: string }[];
}

function baseOf(cidr: string): number {
  const r = parseCidr(cidr);
  return r.ok ? r.cidr.base : 0;
}

function subnetOf(subnets: readonly SubnetDoc[], node: string): string | undefined {
  // The operator keeps one per node; when two raced, the lowest is the one that stays.
  const own = subnets.filter((s) => s.node === node).map((s) => s.cidr).sort((a, b) => baseOf(a) - baseOf(b));
  return own[0];
}

function vniIn(network: NetworkDoc, subnet: string): number | undefined {
  const s = parseCidr(subnet);
  if (!s.ok) return undefined;
  for (const c of network.clusterNetwork) {
    const cn = parseCidr(c.cidr);
    if (cn.ok && cidrContains(cn.cidr, s.cidr)) return vniForSubnet(cn.cidr, s.cidr);
  }
  return undefined;
}

export function desiredState(self: AgentSelf, network: NetworkDoc, nodes: readonly NodeDoc[], subnets: readonly SubnetDoc[]): DesiredState {
  const waiting: DesiredState['waiting'] = [];
  const mySubnet = subnetOf(subnets, self.node);
  const myVni = mySubnet ? vniIn(network, mySubnet) : undefined;
  let local: LocalSpec | undefined;
  let gateway: string | undefined;
  if (mySubnet && myVni !== undefined) {
    local = { node: self.node, systemId: self.systemId, underlay: self.underlay, subnet: mySubnet, vni: myVni };
    const c = parseCidr(mySubnet);
    if (c.ok) gateway = formatIpv4(c.cidr.base + 1);
  }
  const peers: PeerSpec[] = [];
  for (const n of [...nodes].sort((a, b) => byCodeUnit(a.name, b.name))) {
    if (n.name === self.node) continue;
    if (n.system_id === self.systemId) {
      waiting.push({ node: n.name, reason: `has our own system-id ${self.systemId}` });
      continue;
    }
    if (!n.underlay_ip) {
      waiting.push({ node: n.name, reason: 'no underlay address registered yet' });
      continue;
    }
    const subnet = subnetOf(subnets, n.name);
    if (!subnet) {
      waiting.push({ node: n.name, reason: 'no subnet allocated yet' });
      continue;
    }
    const vni = vniIn(network, subnet);
    if (vni === undefined) {
      waiting.push({ node: n.name, reason: `subnet ${subnet} lies outside the cluster network` });
      continue;
    }
    peers.push({ node: n.name, systemId: n.system_id, underlay: n.underlay_ip, subnet, vni });
  }
  return {
    ipsec: network.ipsec.mode === 'Full',
    mode: network.ipsec.mode,
    mtu: network.mtu,
    genevePort: network.genevePort,
    clusterNetworks: network.clusterNetwork.map((c) => c.cidr),
    local,
    gateway,
    peers,
    waiting,
  };
}

/** A content hash (SHA-256 of canonical JSON): what changed is decided by content, never by path. */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(canonical(value)).digest('hex');
}

function canonical(v: unknown): string {
  if (Buffer.isBuffer(v)) return JSON.stringify(v.toString('base64'));
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
