import path from 'node:path';
import type { EtcdAdmin } from '../pki/etcd-admin.js';
import { defaultStateDir } from '../store/layout.js';
import { OperationFailed, UsageError } from '../util/errors.js';

/** The etcd admin directory as the administrator's commands find it, and their etcd calls. */

export const adminDirHelp = 'the etcd admin directory (default $OI_ETCD_ADMIN_DIR, else <state-dir>/etcd-admin)';

export function adminDirOf(o: { adminDir?: string; stateDir?: string }): string {
  return path.resolve(o.adminDir ?? process.env.OI_ETCD_ADMIN_DIR ?? path.join(o.stateDir ?? defaultStateDir(), 'etcd-admin'));
}

export async function loadAdmin(dir: string): Promise<EtcdAdmin> {
  try {
    // Loaded here, not at start: it brings the X.509 library, which most node commands never need.
    return await (await import('../pki/etcd-admin.js')).loadEtcdAdmin(dir);
  } catch (err) {
    throw new UsageError(`--admin-dir: ${(err as Error).message}`);
  }
}

/** Runs an etcd call of the administrator, turning "cannot reach / refused" into one line. */
export async function atEtcd<T>(a: EtcdAdmin, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new OperationFailed(`${what}: etcd at ${a.endpoints.join(',')} answered: ${(err as Error).message.split('\n')[0]}`);
  }
}
