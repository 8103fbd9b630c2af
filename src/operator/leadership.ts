import { hostname } from 'node:os';
import type { Logger } from '../util/log.js';
import type { Store } from '../store/store.js';
import { etcdHandleOf } from '../store/etcd-handle.js';
import { Election } from '../store/etcd-election.js';
import { claimOperator } from './single-instance.js';

/** How long the operator leader's lease lives without renewal (s): a dead leader is replaced within about this. */
export const OPERATOR_LEASE_TTL_S = 3;

/** Whether this operator may act, and how it gives that up. */
export interface Leadership {
  /** Asked before every pass and every decision. */
  leading(): boolean;
  /** Resolves once this operator leads (at once for the directory store's single operator). */
  waitLeader(): Promise<void>;
  /** Resign (etcd: revoke the lease, so the next operator leads at once) or release the pid file. */
  release(): Promise<void>;
}

export interface LeadershipOptions {
  ttlSec?: number;
  /** Told when leadership is gained (kick a pass) or lost. */
  onChange?: (leading: boolean) => void;
}

/**
 * Operators on etcd elect one leader through a lease (`<prefix>/election/operator/<lease>`); the
 * others wait and take over within seconds of the leader's death. On the directory store there
 * is one operator per state directory, by its pid file. Returns the pid of the operator already
 * running on a directory store instead.
 */
export async function claimLeadership(store: Store, stateDir: string, log: Logger, opts: LeadershipOptions = {}): Promise<Leadership | { runningPid: number }> {
  const etcd = etcdHandleOf(store);
  if (!etcd) {
    const claim = await claimOperator(stateDir);
    if ('runningPid' in claim) return claim;
    return { leading: () => true, waitLeader: () => Promise.resolve(), release: claim.release };
  }
  const me = `${hostname()} pid ${process.pid}`;
  let lastError = '';
  const election = new Election({
    client: etcd.client,
    prefix: etcd.prefix,
    name: 'operator',
    value: me,
    ttlSec: opts.ttlSec ?? OPERATOR_LEASE_TTL_S,
    onChange: (leading) => {
      if (leading) log.info({ operator: me }, 'elected operator leader');
      else log.warn({ operator: me }, 'no longer the operator leader; waiting');
      opts.onChange?.(leading);
    },
    onError: (err) => {
      if (err.message !== lastError) log.warn({ err: err.message }, 'operator election: etcd did not answer; retrying');
      lastError = err.message;
    },
  });
  election.start();
  return { leading: () => election.isLeader(), waitLeader: () => election.waitLeader(), release: () => election.stop() };
}
