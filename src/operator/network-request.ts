import type { Logger } from '../util/log.js';
import { NETWORK_KEY, NETWORK_REQUEST_KEY, type NetworkDoc } from '../store/documents.js';
import type { Store } from '../store/store.js';
import { checkTransition } from '../config/validate.js';
import { formatDiagnostic } from '../config/diagnostics.js';

/**
 * `config apply` hands the operator a validated network config as network/requested; the
 * operator (the one writer of network/cluster) checks it against the installed one — only what
 * may change at run time, such as the IPsec mode, may differ — and makes it the cluster's config,
 * or refuses it with the reason in the log. Either way the request is removed (CAS on the
 * revision read, so a newer request is never lost). Returns the cluster config when it changed.
 */
export async function applyNetworkRequest(store: Store, log: Logger, now: number): Promise<NetworkDoc | undefined> {
  const req = await store.get('network', NETWORK_REQUEST_KEY);
  if (!req) return undefined;
  const current = await store.get('network', NETWORK_KEY);
  let applied: NetworkDoc | undefined;
  if (!current) {
    log.error({}, 'config apply: no cluster network config is installed yet; request refused');
  } else {
    const errs = checkTransition(current.value, req.value);
    if (errs.length > 0) {
      log.error({ err: errs.map(formatDiagnostic).join('; ') }, 'config apply refused');
    } else {
      const next: NetworkDoc = { ...req.value, installed_at: current.value.installed_at, applied_at: new Date(now).toISOString() };
      await store.put('network', NETWORK_KEY, next, { expectedRevision: current.revision });
      log.info({ ipsec: next.ipsec.mode, was: current.value.ipsec.mode }, 'config apply: cluster network config changed');
      applied = next;
    }
  }
  await store.delete('network', NETWORK_REQUEST_KEY, { expectedRevision: req.revision }).catch(() => {});
  return applied;
}

/**
 * The config the operator was started with against the stored one, once they pass
 * checkTransition: the given one wins, except that a mode set at run time by `config apply`
 * stays (restarting the operator with its old files must not undo it).
 */
export function mergeGiven(stored: NetworkDoc, given: Omit<NetworkDoc, 'installed_at'>, log: Logger): NetworkDoc {
  if (stored.applied_at === undefined) return { ...given, installed_at: stored.installed_at };
  if (given.ipsec.mode !== stored.ipsec.mode) {
    log.info({ applied_at: stored.applied_at, ipsec: stored.ipsec.mode, config: given.ipsec.mode }, 'the IPsec mode set by config apply stays; --config\'s mode is not applied (use config apply to change it)');
  }
  return { ...given, ipsec: stored.ipsec, installed_at: stored.installed_at, applied_at: stored.applied_at };
}
