import type { Logger } from '../util/log.js';
import type { Store } from '../store/store.js';
import { etcdHandleOf } from '../store/etcd-handle.js';
import { LivenessLease } from '../store/etcd-liveness.js';

/** What the agent's state, status and metrics say about its store. */
export interface ControlPlaneView {
  /** connected: the last read of the store answered; unreachable: it failed (since `since`). */
  state: 'connected' | 'unreachable';
  /** When the current state began (ISO 8601): the first failed read, or the read that answered again. */
  since: string;
  /** Why the last read failed (unreachable only). */
  error?: string;
  /** The agent's liveness lease (etcd only): held, or lost (not renewed within its TTL). */
  liveness?: 'held' | 'lost';
}

/**
 * Whether the agent reaches its control plane, from the outcome of its store reads (every node
 * sync reads the store; the periodic resync makes that a probe every few seconds).
 *
 * Static stability: a read that fails is *not* an empty answer. The node keeps every tunnel, SA,
 * DPD and rekey it has, and only says "control plane unreachable since T"; when a read answers
 * again, the node sync re-lists and plans against what it holds, which removes nothing that
 * still matches.
 */
export class ControlPlaneHealth {
  private unreachableSince: number | undefined;
  private lastError: string | undefined;
  private changedAt: number;
  private liveness: 'held' | 'lost' | undefined;

  constructor(
    private readonly now: () => number,
    private readonly log: Logger,
    private readonly onChange: () => void = () => {},
  ) {
    this.changedAt = now();
  }

  /** A store read answered. */
  reached(): void {
    if (this.unreachableSince === undefined) return;
    const down = this.now() - this.unreachableSince;
    this.unreachableSince = undefined;
    this.lastError = undefined;
    this.changedAt = this.now();
    this.log.info({ unreachable_s: Math.round(down / 100) / 10 }, 'control plane reachable again; re-listing and reconciling (what still matches stays)');
    this.onChange();
  }

  /** A store read failed: nothing is concluded from it, the node goes on with what it has. */
  failed(err: Error): void {
    this.lastError = err.message;
    if (this.unreachableSince !== undefined) return;
    this.unreachableSince = this.now();
    this.changedAt = this.unreachableSince;
    this.log.warn({ err: err.message }, 'control plane unreachable; keeping every tunnel and SA as they are until it answers again');
    this.onChange();
  }

  /** The liveness lease (etcd only) was renewed in time (held) or was not (lost). */
  setLiveness(held: boolean): void {
    const next = held ? 'held' : 'lost';
    if (next === this.liveness) return;
    if (this.liveness !== undefined || !held) this.log.info({ liveness: next }, held ? 'liveness lease held again' : 'liveness lease lost (the others see this node as unreachable; its tunnels stay)');
    this.liveness = next;
    this.onChange();
  }

  get reachable(): boolean {
    return this.unreachableSince === undefined;
  }

  /** Seconds the control plane has been unreachable (0 when reachable). */
  unreachableSeconds(): number {
    return this.unreachableSince === undefined ? 0 : (this.now() - this.unreachableSince) / 1000;
  }

  view(): ControlPlaneView {
    return {
      state: this.reachable ? 'connected' : 'unreachable',
      since: new Date(this.changedAt).toISOString(),
      ...(this.lastError === undefined ? {} : { error: this.lastError }),
      ...(this.liveness === undefined ? {} : { liveness: this.liveness }),
    };
  }

  /** The status line: "control plane unreachable since T (error)", or undefined when reachable. */
  statusLine(): string | undefined {
    if (this.reachable) return undefined;
    return `control plane unreachable since ${new Date(this.unreachableSince!).toISOString()}${this.lastError ? ` (${this.lastError})` : ''}`;
  }
}

/**
 * On etcd, the node's liveness key (`<prefix>/liveness/<node>`, lease-bound) is kept from
 * registration until a clean stop; undefined with the directory store. Its loss only shows (in
 * `overlay-ipsec nodes`, the metrics, the state): nothing on any node acts on it.
 */
export function startLiveness(store: Store, node: string, systemId: string, health: ControlPlaneHealth): LivenessLease | undefined {
  const etcd = etcdHandleOf(store);
  if (!etcd) return undefined;
  const lease = new LivenessLease({ client: etcd.client, prefix: etcd.prefix, node, systemId, onState: (held) => health.setLiveness(held) });
  lease.start();
  return lease;
}
