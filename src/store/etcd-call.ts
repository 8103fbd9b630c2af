import * as etcd3 from 'etcd3';
import { StoreUnavailableError } from './store.js';

/**
 * Every etcd call of the store runs here: with a deadline, retried while etcd cannot answer
 * (no leader during an election, a member gone, a connection being re-made), and turned into a
 * StoreUnavailableError when the deadline passes. Errors etcd means — permission denied, bad
 * credentials, a bad request — are not retried: waiting would not change them.
 */

/** gRPC call options (the deadline), as the client's builders take them. */
export type CallOptions = NonNullable<Parameters<ReturnType<etcd3.Etcd3['get']>['options']>[0]>;

/** Errors that are an answer, not an outage. */
const PERMANENT = [
  etcd3.ClientClosedError, etcd3.EtcdAuthenticationFailedError, etcd3.EtcdPermissionDeniedError, etcd3.EtcdRoleNotGrantedError,
  etcd3.EtcdUserNotFoundError, etcd3.GRPCInvalidArgumentError, etcd3.GRPCUnauthenticatedError,
];

export function isPermanent(err: unknown): boolean {
  return PERMANENT.some((k) => err instanceof k);
}

const FIRST_RETRY_MS = 50;
const MAX_RETRY_MS = 500;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs `fn` (given gRPC call options carrying the time left) until it succeeds, fails with a
 * permanent error, or `timeoutMs` has passed since the first attempt.
 */
export async function callWithDeadline<T>(operation: string, timeoutMs: number, fn: (opts: CallOptions) => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let wait = FIRST_RETRY_MS;
  let last: unknown;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new StoreUnavailableError(`${operation}: no answer from etcd within ${timeoutMs} ms`, last);
    try {
      return await fn({ deadline: new Date(deadline) });
    } catch (err) {
      if (isPermanent(err) || !isEtcdError(err)) throw err;
      // The client's circuit breaker only says it stopped trying that member; the error that
      // opened it (a refused connection, a member certificate that does not match) says why.
      if (last === undefined || (err as Error).constructor.name !== 'BrokenCircuitError') last = err;
    }
    await sleep(Math.min(wait, Math.max(0, deadline - Date.now())));
    wait = Math.min(wait * 2, MAX_RETRY_MS);
  }
}

/**
 * Errors that come from the client or etcd (retryable unless permanent); anything else —
 * a ConflictError or a TypeError thrown by our own code inside `fn` — passes through.
 */
function isEtcdError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const name = err.constructor.name;
  return /^(GRPC|Etcd)/.test(name) || name === 'BrokenCircuitError' || name === 'TaskCancelledError' || 'code' in err;
}
