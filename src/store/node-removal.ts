import { ConflictError, CorruptDocumentError, type Store } from './store.js';
import type { CollectionName } from './documents.js';
import { etcdHandleOf } from './etcd-handle.js';
import { livenessKey } from './etcd-liveness.js';

/**
 * An administrator takes a node out of the cluster: every record the control plane keeps of it
 * goes, the node-owned ones (registration, CSR, its IPsec pair states, on etcd its liveness key)
 * and those the operator writes for it (its certificate record, its subnet). The registration
 * goes first: it is what the other agents plan their peers from, so they drop their tunnels to
 * the node as soon as they see it go. The node's own files (its key, its certificate) stay with
 * the node; its etcd credentials are the administrator's to revoke (pki/etcd-admin.ts).
 *
 * A damaged record of the node is removed too (it is the node's, whatever it holds).
 */

/** The node's records in their collections, in the order they are removed. */
const KEYED: ReadonlyArray<{ collection: CollectionName; field: 'registration' | 'csr' | 'certificate' | 'dataplane' }> = [
  { collection: 'nodes', field: 'registration' },
  { collection: 'csrs', field: 'csr' },
  { collection: 'certificates', field: 'certificate' },
  { collection: 'dataplane', field: 'dataplane' },
];

export interface RemovedRecords {
  node: string;
  registration: boolean;
  csr: boolean;
  certificate: boolean;
  dataplane: boolean;
  /** The subnets that were allocated to it (CIDRs). */
  subnets: string[];
  /** Its liveness key on etcd; null with the directory store, which keeps none. */
  liveness: boolean | null;
}

/** Whether anything was removed (false: the store knew no such node). */
export function removedAnything(r: RemovedRecords): boolean {
  return r.registration || r.csr || r.certificate || r.dataplane || r.subnets.length > 0 || r.liveness === true;
}

async function exists(store: Store, collection: CollectionName, key: string): Promise<boolean> {
  try {
    return (await store.get(collection, key)) !== undefined;
  } catch (err) {
    if (!(err instanceof CorruptDocumentError)) throw err;
    return true;
  }
}

/**
 * Removes every record of `node` from the store; says what there was. What the node held is read
 * first: a running operator frees the subnet and drops the certificate record of a node whose
 * registration it sees go, and may do so before this gets to them, which is the same outcome.
 */
export async function removeNodeRecords(store: Store, node: string, callTimeoutMs = 5000): Promise<RemovedRecords> {
  const out: RemovedRecords = { node, registration: false, csr: false, certificate: false, dataplane: false, subnets: [], liveness: null };
  for (const k of KEYED) out[k.field] = await exists(store, k.collection, node);
  // A damaged subnet document names no node we could match; it is not this node's to remove.
  const held = (await store.list('subnets', { onError: () => {} })).filter((s) => s.value.node === node);
  for (const k of KEYED) if (out[k.field]) await store.delete(k.collection, node, { replaceCorrupt: true });
  for (const s of held) {
    out.subnets.push(s.key);
    try {
      // Compare-and-swap: an operator that freed it (or gave it to another node) meanwhile wins.
      await store.delete('subnets', s.key, { expectedRevision: s.revision });
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
    }
  }
  const etcd = etcdHandleOf(store);
  if (etcd) {
    const key = livenessKey(etcd.prefix, node);
    // Loaded only on etcd: the directory store's processes never load the etcd client.
    const { callWithDeadline } = await import('./etcd-call.js');
    const res = await callWithDeadline(`delete ${key}`, callTimeoutMs, (o) => etcd.client.kv.deleteRange({ key: Buffer.from(key) }, o));
    out.liveness = Number(res.deleted) > 0;
  }
  return out;
}
