import type { Etcd3 } from 'etcd3';
import { z } from 'zod';
import { LeaseKeeper } from './etcd-lease.js';

/**
 * Node liveness on etcd: each agent keeps `<prefix>/liveness/<node>` bound to a lease it renews.
 * When the node loses the control plane (cut off, dead, etcd down for it) the lease runs out and
 * etcd deletes the key: that is all it means. Nothing tears a tunnel down for it — a node leaves
 * only by an explicit remove or a clean shutdown (which revokes the lease and deregisters).
 */

export const livenessSchema = z.object({
  node: z.string().min(1),
  system_id: z.string(),
  pid: z.number().int(),
  /** When this lease was granted (the node's clock): connected since then. */
  since: z.string(),
});
export type LivenessDoc = z.infer<typeof livenessSchema>;

/** How long an agent's liveness lease lives without renewal (s): a lost node shows within this. */
export const LIVENESS_TTL_S = 10;

export function livenessKey(prefix: string, node: string): string {
  return `${prefix}/liveness/${node}`;
}

export interface LivenessOptions {
  client: Etcd3;
  prefix: string;
  node: string;
  systemId: string;
  ttlSec?: number;
  now?: () => number;
  /** Each renewal: whether the lease is certainly alive now. */
  onState?: (held: boolean) => void;
}

/** The agent's side: a lease-bound liveness key, put again with each new lease. */
export class LivenessLease {
  private readonly keeper: LeaseKeeper;

  constructor(o: LivenessOptions) {
    const now = o.now ?? Date.now;
    this.keeper = new LeaseKeeper({
      client: o.client,
      ttlSec: o.ttlSec ?? LIVENESS_TTL_S,
      now,
      onGranted: async (lease) => {
        const doc: LivenessDoc = { node: o.node, system_id: o.systemId, pid: process.pid, since: new Date(now()).toISOString() };
        await lease.put(livenessKey(o.prefix, o.node)).value(JSON.stringify(doc)).options({ deadline: new Date(Date.now() + 3000) });
      },
      onContact: () => o.onState?.(this.keeper.alive()),
      // A keep-alive cut off from etcd can wait past the lease's end: the status turns then.
      onLapse: () => o.onState?.(false),
    });
  }

  start(): void {
    this.keeper.start();
  }

  held(): boolean {
    return this.keeper.alive();
  }

  /** Clean shutdown: the lease is revoked, so the key goes now. */
  stop(): Promise<void> {
    return this.keeper.stop();
  }
}

/**
 * Every liveness key under the prefix, by node (what `overlay-ipsec nodes` shows). A value that
 * is not a liveness document is reported through `onProblem` and skipped.
 */
export async function readLiveness(client: Etcd3, prefix: string, onProblem: (key: string, problem: string) => void = () => {}, timeoutMs = 5000): Promise<Map<string, LivenessDoc>> {
  const dir = `${prefix}/liveness/`;
  const res = await client.getAll().prefix(dir).options({ deadline: new Date(Date.now() + timeoutMs) }).exec();
  const out = new Map<string, LivenessDoc>();
  for (const kv of res.kvs) {
    const key = kv.key.toString();
    let value: unknown;
    try {
      value = JSON.parse(kv.value.toString());
    } catch {
      onProblem(key, 'not JSON');
      continue;
    }
    const r = livenessSchema.safeParse(value);
    if (!r.success) onProblem(key, r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    else out.set(key.slice(dir.length), r.data);
  }
  return out;
}
