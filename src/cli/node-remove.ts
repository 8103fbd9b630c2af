import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { EtcdAdmin } from '../pki/etcd-admin.js';
import { checkNodeName, defaultStateDir, storeDir } from '../store/layout.js';
import { nodeUser } from '../store/etcd-identity.js';
import { removeNodeRecords, removedAnything, type RemovedRecords } from '../store/node-removal.js';
import { StoreUnavailableError, type StoreSpec } from '../store/index.js';
import { addStoreOptions, openStoreForCli, storeSpecFromFlags, type StoreFlags } from './store-options.js';
import { adminDirHelp, atEtcd, loadAdmin } from './etcd-admin-dir.js';
import { OperationFailed, UsageError } from '../util/errors.js';

/**
 * `overlay-ipsec node remove NODE`: the explicit way a node leaves the cluster (an expired
 * liveness lease never is one). Its records go from the store — the registration first, so the
 * other agents drop their tunnels to it — and, given the etcd admin directory, its etcd user and
 * role, so the node's join file stops working before its records go and it cannot write them back.
 */

interface RemoveFlags extends StoreFlags {
  stateDir?: string;
  adminDir?: string;
  json?: boolean;
}

/**
 * The admin directory to revoke the node's etcd user with: the one named (--admin-dir or
 * $OI_ETCD_ADMIN_DIR), else — when no store is named and the state directory holds no directory
 * store — `<state-dir>/etcd-admin` of a local `up --store etcd` cluster, if there is one.
 */
function adminDirFor(o: RemoveFlags, stateDir: string): string | undefined {
  const named = o.adminDir ?? process.env.OI_ETCD_ADMIN_DIR;
  if (named !== undefined) return path.resolve(named);
  if (o.store !== undefined || o.storeConfig !== undefined || existsSync(storeDir(stateDir))) return undefined;
  const local = path.join(stateDir, 'etcd-admin');
  return existsSync(local) ? local : undefined;
}

/** The store to remove records from: the one named, else the admin directory's etcd (as root), else the state directory's. */
async function storeSpecFor(o: RemoveFlags, stateDir: string, admin: EtcdAdmin | undefined): Promise<StoreSpec> {
  const named = o.store !== undefined || o.storeConfig !== undefined;
  const spec = named || !admin ? await storeSpecFromFlags(o, stateDir) : (await import('../pki/etcd-admin.js')).adminStoreSpec(admin);
  if (spec.kind === 'fs') {
    if (admin) throw new UsageError('--admin-dir: an etcd admin directory goes with a store on etcd, not the directory store');
    if (!existsSync(spec.dir)) throw new UsageError(`--state-dir ${stateDir}: no store there (${spec.dir} missing); name the cluster's store with --store or --store-config`);
  } else if (admin && spec.prefix !== admin.prefix) {
    throw new UsageError(`--admin-dir: ${admin.dir} is for the keys under ${admin.prefix}, the store's are under ${spec.prefix}`);
  }
  return spec;
}

function describe(r: RemovedRecords, user: string | undefined, revoked: boolean | undefined): string {
  const parts = [
    r.registration && 'registration', r.csr && 'CSR', r.certificate && 'certificate record',
    ...r.subnets.map((s) => `subnet ${s}`), r.dataplane && 'data-plane report', r.liveness && 'liveness key',
  ].filter((p): p is string => typeof p === 'string');
  const lines = [`removed node ${r.node}: ${parts.length ? parts.join(', ') : 'no store records'}`];
  if (user !== undefined) lines.push(revoked ? `deleted its etcd user and role ${user}: its join files no longer work` : `no etcd user ${user} to delete`);
  else if (r.liveness !== null) lines.push('its etcd user is kept (give --admin-dir to delete it, so its join file stops working)');
  return lines.join('\n') + '\n';
}

export function registerNodeRemove(node: Command): void {
  addStoreOptions(node
    .command('remove')
    .argument('<node>', 'the node\'s name')
    .description(
      'Take a node out of the cluster: its registration, CSR, certificate record, subnet, data-plane report and (etcd) liveness key go, ' +
        'and every other agent drops its tunnel and SAs to it. With the etcd admin directory its etcd user and role are deleted first, ' +
        'so its join file stops working. Stop the node\'s agent first: it registers again when started. ' +
        'Exit 1 when the store knows no such node.',
    )
    .option('--state-dir <dir>', 'state directory (default $OI_STATE_DIR or /var/lib/overlay-ipsec): its directory store, or its etcd-admin/ of `up --store etcd`')
    .option('--admin-dir <dir>', `${adminDirHelp}; deletes the node's etcd user and role, and reaches etcd as root when no --store is given`)
    .option('--json', 'print {"node","registration","csr","certificate","dataplane","subnets","liveness","etcd_user","etcd_user_deleted"}'))
    .action(async (name: string, o: RemoveFlags) => {
      const bad = checkNodeName(name);
      if (bad) throw new UsageError(`node: ${bad}`);
      const stateDir = o.stateDir ?? defaultStateDir();
      const adminDir = adminDirFor(o, stateDir);
      const admin = adminDir !== undefined ? await loadAdmin(adminDir) : undefined;
      const spec = await storeSpecFor(o, stateDir, admin);
      // The credentials go first: a node whose agent still runs cannot write its records back.
      const revoked = admin ? await atEtcd(admin, `deleting the etcd user of node ${name}`, async () => (await import('../pki/etcd-admin.js')).revokeNodeCredentials(admin, name)) : undefined;
      const store = await openStoreForCli(spec);
      let removed: RemovedRecords;
      try {
        removed = await removeNodeRecords(store, name);
      } catch (err) {
        // Unreachable, or refused (credentials that may not delete these keys): the operation failed.
        if (err instanceof StoreUnavailableError || (spec.kind === 'etcd' && (await import('../store/etcd-call.js')).isPermanent(err))) throw new OperationFailed(`node ${name}: ${(err as Error).message.split('\n')[0]}`);
        throw err;
      } finally {
        await store.close();
      }
      if (!removedAnything(removed) && !revoked) {
        const where = spec.kind === 'fs' ? spec.dir : `etcd ${spec.endpoints.join(',')} under ${spec.prefix}`;
        throw new OperationFailed(`node ${name}: not found (no registration, CSR, certificate, subnet, data-plane or liveness record in ${where}${admin ? ', no etcd user' : ''})`);
      }
      const user = admin ? nodeUser(admin.cluster, name) : undefined;
      const out = { ...removed, etcd_user: user ?? null, etcd_user_deleted: revoked ?? null };
      process.stdout.write(o.json ? JSON.stringify(out) + '\n' : describe(removed, user, revoked));
    });
}
