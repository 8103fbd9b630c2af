/**
 * Who may do what in etcd: the user (and role, of the same name) of a node, of the operator, and
 * the keys each role is granted. etcd takes the user from the client certificate's CN, so these
 * names are what the etcd CA writes into certificates.
 *
 *   oi/<cluster>/node/<node>    readwrite: <prefix>/nodes/<node>, <prefix>/csrs/<node>,
 *                               <prefix>/liveness/<node>, <prefix>/dataplane/<node> (exact keys);
 *                               read: <prefix>/ (range)
 *   oi/<cluster>/operator       readwrite: <prefix>/ (range)
 *   root                        the administrator's bootstrap only; no daemon holds it
 *
 * Names hold no ':' (etcdctl reads `user add a:b` as user a, password b). A node's grants are
 * exact keys, not prefixes, so node `worker1` cannot write `nodes/worker10`. The documents under
 * the prefix hold no secret (certificates and CSRs are public), so every node may read them all.
 */

export const ROOT_USER = 'root';

/** Collections a node writes its own key in (the store's nodes, csrs and dataplane — its IPsec pair states — and its liveness key). */
export const NODE_OWNED = ['nodes', 'csrs', 'liveness', 'dataplane'] as const;

export type Grant =
  | { permission: 'Read' | 'Readwrite'; key: string }
  | { permission: 'Read' | 'Readwrite'; prefix: string };

export function nodeUser(cluster: string, node: string): string {
  return `oi/${cluster}/node/${node}`;
}

export function operatorUser(cluster: string): string {
  return `oi/${cluster}/operator`;
}

/** The node name a node user stands for, or undefined when it is not a node user of this cluster. */
export function nodeOfUser(cluster: string, user: string): string | undefined {
  const head = `oi/${cluster}/node/`;
  return user.startsWith(head) && user.length > head.length ? user.slice(head.length) : undefined;
}

export function nodeGrants(prefix: string, node: string): Grant[] {
  return [
    ...NODE_OWNED.map((c): Grant => ({ permission: 'Readwrite', key: `${prefix}/${c}/${node}` })),
    { permission: 'Read', prefix: `${prefix}/` },
  ];
}

export function operatorGrants(prefix: string): Grant[] {
  return [{ permission: 'Readwrite', prefix: `${prefix}/` }];
}

/** The cluster name of a prefix `/overlay-ipsec/<cluster>` (its last segment). */
export function clusterOfPrefix(prefix: string): string {
  const last = prefix.split('/').filter(Boolean).pop();
  if (!last) throw new Error(`prefix "${prefix}" names no cluster`);
  return last;
}
