import type { Logger } from '../util/log.js';
import type { NetworkDoc, NodeDoc, SubnetDoc } from '../store/documents.js';
import { ConflictError, type Entry, type ListOptions, type Store } from '../store/store.js';
import { formatCidr, parseCidr, cidrSize, subnetAt, type Cidr } from '../wire/address.js';

/**
 * One /hostPrefix per node from the cluster networks. Allocations are documents
 * `subnets/<cidr>` created with expectedRevision 0, so a subnet is never handed out twice even
 * by two operators at once; they stay put across restarts, and are deleted (CAS) when the node
 * is gone. Lowest free block first, so a restarted cluster looks the same.
 */
export async function reconcileSubnets(store: Store, network: NetworkDoc, nodes: NodeDoc[], nowMs: number, log: Logger, listOpts: ListOptions = {}): Promise<void> {
  const subnets = await store.list('subnets', listOpts);
  const byNode = new Map<string, Entry<SubnetDoc>[]>();
  for (const s of subnets) byNode.set(s.value.node, [...(byNode.get(s.value.node) ?? []), s]);
  const names = new Set(nodes.map((n) => n.name));
  const taken = new Set(subnets.map((s) => s.key));

  // Free what belongs to removed nodes; a node holding two (two operators raced) keeps its lowest.
  for (const [node, list] of byNode) {
    const sorted = [...list].sort((a, b) => cidrOrder(a.key) - cidrOrder(b.key));
    const extra = names.has(node) ? sorted.slice(1) : sorted;
    for (const s of extra) {
      try {
        await store.delete('subnets', s.key, { expectedRevision: s.revision });
        taken.delete(s.key);
        log.info({ node, subnet: s.key }, names.has(node) ? 'freed a duplicate subnet' : 'freed the subnet of a removed node');
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
    }
  }

  const blocks = [...candidates(network)];
  for (const n of [...nodes].sort((a, b) => a.registered_at.localeCompare(b.registered_at) || a.name.localeCompare(b.name))) {
    if (byNode.get(n.name)?.length) continue;
    let got: string | undefined;
    for (const b of blocks) {
      if (taken.has(b)) continue;
      try {
        await store.put('subnets', b, { cidr: b, node: n.name, allocated_at: new Date(nowMs).toISOString() }, { expectedRevision: 0 });
        got = b;
        taken.add(b);
        break;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        taken.add(b); // somebody else has it
      }
    }
    if (got) log.info({ node: n.name, subnet: got }, 'allocated node subnet');
    else log.error({ node: n.name, clusterNetwork: network.clusterNetwork }, 'no free node subnet left in the cluster network');
  }
}

function cidrOrder(key: string): number {
  const r = parseCidr(key);
  return r.ok ? r.cidr.base : Number.MAX_SAFE_INTEGER;
}

function* candidates(network: NetworkDoc): Generator<string> {
  for (const e of network.clusterNetwork) {
    const r = parseCidr(e.cidr);
    if (!r.ok) continue;
    const net: Cidr = r.cidr;
    const count = cidrSize(net) / cidrSize({ base: 0, prefix: e.hostPrefix });
    for (let i = 0; i < count; i++) yield formatCidr(subnetAt(net, e.hostPrefix, i));
  }
}
