import path from 'node:path';
import { EtcdCluster, adminDirCerts } from '../../test/helpers/etcd.js';
import { bootstrapEtcdAuth, initEtcdAdmin, issueCredentials, rootConnection, type EtcdAdmin } from '../../src/pki/etcd-admin.js';
import { writeCredentialsFile, type CredentialsFile } from '../../src/store/join-file.js';
import type { StoreSpec } from '../../src/store/open-store.js';
import { forEachLimited } from '../../src/util/limited.js';
import { cpuSeconds } from '../lib/proc.js';

/**
 * The join benchmark's etcd, set up as an administrator sets up a real one, with the product's
 * own calls: an etcd CA with root and member certificates (`etcd init`), one member on loopback
 * with client-certificate TLS, auth on with the operator's user (`etcd bootstrap`), and per node
 * its own user, role and client certificate (`node join-file`). Nodes then write as themselves:
 * etcd refuses anything outside their own keys.
 */

export const BENCH_CLUSTER = 'bench';

export interface BenchEtcd {
  etcd: EtcdCluster;
  admin: EtcdAdmin;
  /** The operator's credentials file (0600), for `operator --store-config`. */
  operatorCredentials: string;
  pid: number;
  cpu(): number;
  close(): Promise<void>;
}

export async function startBenchEtcd(dir: string): Promise<BenchEtcd> {
  const adminDir = path.join(dir, 'etcd-admin');
  // The endpoints are known once the member has its port; the admin object gets them then.
  const made = await initEtcdAdmin(adminDir, { cluster: BENCH_CLUSTER, prefix: `/overlay-ipsec/${BENCH_CLUSTER}`, endpoints: [] }, [{ name: 'm0', ips: ['127.0.0.1'] }]);
  const etcd = await EtcdCluster.start({ members: 1, certs: adminDirCerts(adminDir) });
  try {
    const admin: EtcdAdmin = { ...made, endpoints: etcd.endpoints };
    await bootstrapEtcdAuth(admin);
    const operatorCredentials = path.join(dir, 'operator-credentials.json');
    await writeCredentialsFile(operatorCredentials, await issueCredentials(admin, { expiresAt: new Date(Date.now() + 86_400_000) }));
    const pid = etcd.members[0]!.process!.pid!;
    return {
      etcd, admin, operatorCredentials, pid,
      cpu: () => cpuSeconds(pid) ?? Number.NaN,
      close: () => etcd.close(),
    };
  } catch (err) {
    await etcd.close();
    throw err;
  }
}

/** The store a credentials file opens (what `--store-config JOIN_FILE` reads), PEMs inline. */
export function specOf(c: CredentialsFile): StoreSpec {
  return { kind: 'etcd', endpoints: c.endpoints, prefix: c.prefix, tls: c.tls };
}

/** Each node's etcd user, role and client certificate, made with root as `node join-file` makes them. */
export async function issueNodeIdentities(e: BenchEtcd, names: readonly string[], inFlight: number): Promise<Map<string, StoreSpec>> {
  const out = new Map<string, StoreSpec>();
  const expiresAt = new Date(Date.now() + 86_400_000);
  const root = rootConnection(e.admin);
  try {
    await forEachLimited(names, inFlight, async (node) => {
      out.set(node, specOf(await issueCredentials(e.admin, { node, expiresAt, root })));
    });
  } finally {
    root.close();
  }
  return out;
}
