import { type Etcd3, EtcdRoleExistsError, EtcdRoleNotFoundError, EtcdUserExistsError, EtcdUserNotFoundError, Range } from 'etcd3';
import { newEtcdClient } from './etcd-tls.js';
import { ROOT_USER, nodeGrants, nodeUser, operatorGrants, operatorUser, type Grant } from './etcd-identity.js';

/**
 * The administrator's side of etcd auth: with the root client certificate, create the roles and
 * users (no passwords: each authenticates by the CN of its client certificate) and enable auth.
 * Every step is idempotent, so a bootstrap that stopped half-way is simply run again, and a join
 * file made twice for one node re-grants the same keys. Only this module and the commands that
 * call it ever use root; the daemons connect as their own users.
 */

export interface AdminConnection {
  endpoints: string[];
  /** PEM text: the etcd CA, and the root user's client certificate and key. */
  ca: string;
  cert: string;
  key: string;
  callTimeoutMs?: number;
}

/** An etcd client for the administrator (root) or any user, over TLS; https:// is added to bare HOST:PORT. */
export function adminClient(c: AdminConnection): Etcd3 {
  const timeout = c.callTimeoutMs ?? 10_000;
  return newEtcdClient(
    {
      hosts: c.endpoints.map((e) => (/^https?:\/\//.test(e) ? e : `https://${e}`)),
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
    },
    { ca: Buffer.from(c.ca), ...(c.cert ? { cert: Buffer.from(c.cert), key: Buffer.from(c.key) } : {}) },
  );
}

async function ignoring<T>(p: Promise<T>, ...kinds: Array<new (...a: never[]) => Error>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!kinds.some((k) => err instanceof k)) throw err;
  }
}

async function ensureRole(client: Etcd3, name: string, grants: readonly Grant[]): Promise<void> {
  await ignoring(client.auth.roleAdd({ name }), EtcdRoleExistsError);
  for (const g of grants) {
    await client.role(name).grant('key' in g ? { permission: g.permission, key: g.key } : { permission: g.permission, range: Range.prefix(g.prefix) });
  }
}

async function ensureUser(client: Etcd3, name: string, role: string): Promise<void> {
  await ignoring(client.auth.userAdd({ name, options: { no_password: true } }), EtcdUserExistsError);
  await client.auth.userGrantRole({ user: name, role });
}

/** The root user (certificate-only) with the root role, then auth on. */
export async function enableAuth(client: Etcd3): Promise<void> {
  await ignoring(client.auth.userAdd({ name: ROOT_USER, options: { no_password: true } }), EtcdUserExistsError);
  await client.auth.userGrantRole({ user: ROOT_USER, role: 'root' });
  await client.auth.authEnable();
}

/** The operator's user and role for the cluster under `prefix`. */
export async function ensureOperatorUser(client: Etcd3, cluster: string, prefix: string): Promise<string> {
  const user = operatorUser(cluster);
  await ensureRole(client, user, operatorGrants(prefix));
  await ensureUser(client, user, user);
  return user;
}

/** A node's user and role: its own keys to write, the prefix to read. */
export async function ensureNodeUser(client: Etcd3, cluster: string, prefix: string, node: string): Promise<string> {
  const user = nodeUser(cluster, node);
  await ensureRole(client, user, nodeGrants(prefix, node));
  await ensureUser(client, user, user);
  return user;
}

/**
 * Removes a node's user and role: every certificate issued for it stops working at once.
 * False when neither existed.
 */
export async function removeNodeUser(client: Etcd3, cluster: string, node: string): Promise<boolean> {
  const user = nodeUser(cluster, node);
  const gone = async (p: Promise<unknown>, notFound: new (...a: never[]) => Error): Promise<boolean> => {
    try {
      await p;
      return true;
    } catch (err) {
      if (err instanceof notFound) return false;
      throw err;
    }
  };
  const userGone = await gone(client.auth.userDelete({ name: user }), EtcdUserNotFoundError);
  const roleGone = await gone(client.auth.roleDelete({ role: user }), EtcdRoleNotFoundError);
  return userGone || roleGone;
}
