import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createEtcdCa, issueClientCert, issueMemberCert, loadEtcdCa, ETCD_MEMBER_YEARS, type EtcdCa } from './etcd-certs.js';
import type { Etcd3 } from 'etcd3';
import { adminClient, enableAuth, ensureNodeUser, ensureOperatorUser, removeNodeUser } from '../store/etcd-auth.js';
import { ROOT_USER } from '../store/etcd-identity.js';
import { CREDENTIALS_KIND, CREDENTIALS_VERSION, type CredentialsFile } from '../store/join-file.js';
import { addYears } from './time.js';
import type { StoreSpec } from '../store/open-store.js';

/**
 * The etcd administrator's directory: the etcd CA (its key signs every etcd identity), the root
 * client certificate (used only here, to create users and roles and enable auth) and where the
 * cluster's etcd is. It stays with the administrator, never on a node or with a daemon:
 *
 *   admin.json            { cluster, prefix, endpoints }
 *   ca.pem, ca-key.pem    the etcd CA (key 0600)
 *   root.pem, root-key.pem   the root user's client certificate (key 0600)
 *   members/<name>.pem, members/<name>-key.pem   each member's server + peer certificate (key 0600)
 */

export interface EtcdAdminConfig {
  cluster: string;
  prefix: string;
  /** HOST:PORT of every member's client URL. */
  endpoints: string[];
}

export interface EtcdMemberSpec {
  name: string;
  /** Addresses clients and peers reach it on (its certificate's IP SANs). */
  ips: string[];
}

export interface EtcdAdmin extends EtcdAdminConfig {
  dir: string;
  ca: EtcdCa;
  rootCert: string;
  rootKey: string;
}

const ADMIN_FILE = 'admin.json';

export function memberCertFiles(dir: string, member: string): { cert: string; key: string } {
  return { cert: path.join(dir, 'members', `${member}.pem`), key: path.join(dir, 'members', `${member}-key.pem`) };
}

async function writeSecret(file: string, text: string): Promise<void> {
  await writeFile(file, text, { mode: 0o600 });
  await chmod(file, 0o600);
}

/**
 * Makes the directory: a new etcd CA, the root certificate, and a certificate per member.
 * Refuses a directory that already holds a CA (replacing it would orphan every issued identity).
 */
export async function initEtcdAdmin(dir: string, cfg: EtcdAdminConfig, members: readonly EtcdMemberSpec[], nowMs = Date.now()): Promise<EtcdAdmin> {
  await mkdir(path.join(dir, 'members'), { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const existing = await readFile(path.join(dir, 'ca.pem'), 'utf8').catch(() => undefined);
  if (existing !== undefined) throw new Error(`${dir} already holds an etcd CA (ca.pem); use another directory, or keep using this one`);
  const ca = await createEtcdCa(nowMs, `${cfg.cluster} etcd CA`);
  await writeSecret(path.join(dir, 'ca-key.pem'), ca.keyPem);
  await writeFile(path.join(dir, 'ca.pem'), ca.certPem, { mode: 0o644 });
  const root = await issueClientCert(ca, ROOT_USER, nowMs, addYears(new Date(nowMs), ETCD_MEMBER_YEARS));
  await writeSecret(path.join(dir, 'root-key.pem'), root.keyPem);
  await writeFile(path.join(dir, 'root.pem'), root.certPem, { mode: 0o644 });
  for (const m of members) {
    const c = await issueMemberCert(ca, m.name, m.ips, nowMs);
    const f = memberCertFiles(dir, m.name);
    await writeSecret(f.key, c.keyPem);
    await writeFile(f.cert, c.certPem, { mode: 0o644 });
  }
  await writeFile(path.join(dir, ADMIN_FILE), JSON.stringify(cfg, null, 2) + '\n', { mode: 0o644 });
  return { dir, ...cfg, ca, rootCert: root.certPem, rootKey: root.keyPem };
}

export async function loadEtcdAdmin(dir: string): Promise<EtcdAdmin> {
  const read = async (name: string): Promise<string> => {
    try {
      return await readFile(path.join(dir, name), 'utf8');
    } catch (err) {
      throw new Error(`${path.join(dir, name)}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); is ${dir} an etcd admin directory (overlay-ipsec etcd init)?`);
    }
  };
  let cfg: EtcdAdminConfig;
  const text = await read(ADMIN_FILE);
  try {
    cfg = JSON.parse(text) as EtcdAdminConfig;
  } catch (err) {
    throw new Error(`${path.join(dir, ADMIN_FILE)}: not JSON (${(err as Error).message})`);
  }
  if (typeof cfg.cluster !== 'string' || typeof cfg.prefix !== 'string' || !Array.isArray(cfg.endpoints) || cfg.endpoints.length === 0) {
    throw new Error(`${path.join(dir, ADMIN_FILE)}: needs "cluster", "prefix" and "endpoints"`);
  }
  const ca = await loadEtcdCa(await read('ca.pem'), await read('ca-key.pem'));
  return { dir, cluster: cfg.cluster, prefix: cfg.prefix, endpoints: cfg.endpoints, ca, rootCert: await read('root.pem'), rootKey: await read('root-key.pem') };
}

/** A root connection to the cluster's etcd; the caller closes it. */
export function rootConnection(a: EtcdAdmin): Etcd3 {
  return adminClient({ endpoints: a.endpoints, ca: a.ca.certPem, cert: a.rootCert, key: a.rootKey });
}

/** With root: the root user, the operator's user and role, and auth on. Idempotent. */
export async function bootstrapEtcdAuth(a: EtcdAdmin): Promise<void> {
  const client = rootConnection(a);
  try {
    await ensureOperatorUser(client, a.cluster, a.prefix);
    await enableAuth(client);
  } finally {
    client.close();
  }
}

/**
 * A credentials file for a node (its user and role made or re-granted with root) or, without
 * `node`, for the operator; valid until `expiresAt`. `root`: an open root connection to use
 * (default: one opened and closed for this call).
 */
export async function issueCredentials(a: EtcdAdmin, o: { node?: string; expiresAt: Date; nowMs?: number; root?: Etcd3 }): Promise<CredentialsFile> {
  const nowMs = o.nowMs ?? Date.now();
  // One root connection can serve many nodes (a connection costs a TLS handshake, ~20 ms here).
  const client = o.root ?? rootConnection(a);
  let user: string;
  try {
    user = o.node !== undefined ? await ensureNodeUser(client, a.cluster, a.prefix, o.node) : await ensureOperatorUser(client, a.cluster, a.prefix);
  } finally {
    if (!o.root) client.close();
  }
  const c = await issueClientCert(a.ca, user, nowMs, o.expiresAt);
  return {
    endpoints: a.endpoints,
    prefix: a.prefix,
    tls: { caPem: a.ca.certPem, certPem: c.certPem, keyPem: c.keyPem },
    join: {
      kind: CREDENTIALS_KIND,
      version: CREDENTIALS_VERSION,
      user,
      ...(o.node !== undefined ? { node: o.node } : {}),
      cluster: a.cluster,
      expires_at: c.notAfter.toISOString(),
      created_at: new Date(nowMs).toISOString(),
    },
  };
}

/**
 * With root: deletes a node's etcd user and role, so every join file made for it stops working
 * at once (etcd refuses its requests). False when the node had neither.
 */
export async function revokeNodeCredentials(a: EtcdAdmin, node: string): Promise<boolean> {
  const client = rootConnection(a);
  try {
    return await removeNodeUser(client, a.cluster, node);
  } finally {
    client.close();
  }
}

/** The cluster's store as the administrator (root) reaches it, for the commands that change it. */
export function adminStoreSpec(a: EtcdAdmin): StoreSpec {
  return { kind: 'etcd', endpoints: a.endpoints, prefix: a.prefix, tls: { caPem: a.ca.certPem, certPem: a.rootCert, keyPem: a.rootKey } };
}
