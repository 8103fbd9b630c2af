import type { Etcd3, Lease } from 'etcd3';
import { LeaseKeeper } from './etcd-lease.js';

/**
 * Leader election over etcd, as etcd's own concurrency package does it: every candidate puts
 * `<prefix>/election/<name>/<lease id>` bound to its lease; the candidate whose key was created
 * first (lowest create revision) leads. A leader that dies stops renewing its lease, etcd deletes
 * its key when the TTL runs out, and the next candidate finds itself first on its next look.
 *
 * `isLeader()` holds only while our key is first *and* our lease is certainly alive (see
 * LeaseKeeper): a leader cut off from etcd stops leading before etcd lets anyone else lead.
 * Candidates look at the election on every keep-alive (a third of the TTL), so a hand-over takes
 * at most about TTL + TTL/3 after the leader's last keep-alive.
 */
export interface ElectionOptions {
  client: Etcd3;
  /** The cluster's key prefix (`/overlay-ipsec/<cluster>`). */
  prefix: string;
  /** What is elected (e.g. "operator"). */
  name: string;
  /** What this candidate announces (host, pid): shown to the others as the leader. */
  value: string;
  ttlSec: number;
  callTimeoutMs?: number;
  now?: () => number;
  /** We became leader (true) or stopped being it (false). */
  onChange?: (leader: boolean) => void;
  /** A look at the election failed (etcd unreachable): the candidate keeps trying. */
  onError?: (err: Error) => void;
}

export interface ElectionView {
  /** The leader's announced value, when there is one. */
  leader: string | undefined;
  /** Candidates, the leader first. */
  candidates: string[];
}

export class Election {
  private readonly keeper: LeaseKeeper;
  private readonly dir: string;
  private ourKey: string | undefined;
  private first = false;
  private leading = false;
  private view: ElectionView = { leader: undefined, candidates: [] };
  private lease: Lease | undefined;
  private stopped = false;

  constructor(private readonly o: ElectionOptions) {
    this.dir = `${o.prefix}/election/${o.name}/`;
    this.keeper = new LeaseKeeper({
      client: o.client,
      ttlSec: o.ttlSec,
      ...(o.callTimeoutMs === undefined ? {} : { callTimeoutMs: o.callTimeoutMs }),
      ...(o.now ? { now: o.now } : {}),
      onGranted: (lease) => this.stand(lease),
      onContact: (ok, err) => {
        if (ok) void this.look().catch((e: Error) => this.lookFailed(e));
        else this.lookFailed(err!);
      },
    });
  }

  /** Starts campaigning; `onChange(true)` when elected. */
  start(): void {
    this.keeper.start();
  }

  /** Whether we lead now: our key is first, and our lease is certainly alive. */
  isLeader(): boolean {
    const leading = this.first && this.keeper.alive();
    this.setLeading(leading);
    return leading;
  }

  /** The election as last seen. */
  observed(): ElectionView {
    return this.view;
  }

  /** Resolves once we lead (or never, if stopped first). */
  waitLeader(): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.isLeader()) resolve();
        else if (!this.stopped) setTimeout(check, 100).unref();
      };
      check();
    });
  }

  private deadline(): { deadline: Date } {
    return { deadline: new Date(Date.now() + (this.o.callTimeoutMs ?? 2000)) };
  }

  /** A new lease: our key goes on with it. */
  private async stand(lease: Lease): Promise<void> {
    this.lease = lease;
    this.ourKey = undefined;
    await this.look();
  }

  private async look(): Promise<void> {
    const lease = this.lease;
    if (this.ourKey === undefined && lease && this.keeper.alive()) {
      const key = this.dir + BigInt(await lease.grant()).toString(16);
      await lease.put(key).value(this.o.value).options(this.deadline());
      this.ourKey = key;
    }
    const res = await this.o.client.getAll().prefix(this.dir).sort('Create', 'Ascend').options(this.deadline()).exec();
    const kvs = res.kvs;
    this.view = { leader: kvs[0]?.value.toString(), candidates: kvs.map((kv) => kv.value.toString()) };
    const ours = this.ourKey;
    this.first = ours !== undefined && kvs[0]?.key.toString() === ours;
    // Our key is gone though our lease lives (an administrator deleted it): the next look puts it again.
    if (ours !== undefined && !kvs.some((kv) => kv.key.toString() === ours)) this.ourKey = undefined;
    this.isLeader();
  }

  private lookFailed(err: Error): void {
    this.isLeader(); // the lease's certainty may have run out
    this.o.onError?.(err);
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    this.o.onChange?.(leading);
  }

  /** Resigns: the lease is revoked, so the key goes now and the next candidate leads at its next look. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.first = false;
    this.setLeading(false);
    await this.keeper.stop();
  }
}
