import type { Etcd3 } from 'etcd3';
import type { Store } from './store.js';

/** What etcd-only modules (leases, the operator election, liveness) need of a store on etcd. */
export interface EtcdHandle {
  readonly client: Etcd3;
  /** The cluster's key prefix (`/overlay-ipsec/<cluster>`). */
  readonly prefix: string;
}

/** The store's etcd connection and prefix, when it is a store on etcd (undefined for the directory store). */
export function etcdHandleOf(store: Store): EtcdHandle | undefined {
  const s = store as Partial<EtcdHandle>;
  return s.client !== undefined && typeof s.prefix === 'string' ? { client: s.client, prefix: s.prefix } : undefined;
}
