import type { Etcd3, Lease } from 'etcd3';

/**
 * One etcd lease kept alive by hand, for the keys that must vanish when their holder does (the
 * operator's election key, an agent's liveness key).
 *
 * etcd3's own keep-alive loop is not used: it keeps running after the client is closed, and it
 * cannot say until when the lease is *certainly* alive. Here every keep-alive is one call with a
 * deadline, and the lease counts as alive until the time the last answered keep-alive was *sent*
 * plus the TTL it granted — etcd measures from when it received that request, which is later, so
 * the holder always believes in its lease a little less long than etcd keeps it. A leader that
 * acts only while `alive()` never acts after another could have been elected.
 *
 * A lease that etcd no longer knows (it expired while we were cut off) is replaced by a new one,
 * and `onGranted` puts the holder's keys again.
 */
export interface LeaseKeeperOptions {
  client: Etcd3;
  /** The lease's time to live (s, ≥ 2: etcd's smallest with its default timing). */
  ttlSec: number;
  /** Deadline of one grant, keep-alive or revoke (ms); default a third of the TTL. */
  callTimeoutMs?: number;
  now?: () => number;
  /** A new lease was granted: attach the holder's keys to it. A throw counts as a failed grant. */
  onGranted: (lease: Lease) => Promise<void>;
  /** Each round trip to etcd: whether it answered (err says why not). */
  onContact?: (ok: boolean, err?: Error) => void;
  /**
   * The lease ran out with no renewal answered: called at that moment, even while a keep-alive
   * is still waiting for an answer (one cut off from etcd may wait longer than the lease lives).
   */
  onLapse?: () => void;
}

export class LeaseKeeper {
  private lease: Lease | undefined;
  private grantedId: string | undefined;
  private aliveUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private lapseTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly o: LeaseKeeperOptions) {
    if (!Number.isInteger(o.ttlSec) || o.ttlSec < 2) throw new RangeError(`lease TTL ${o.ttlSec} s: must be a whole number of seconds ≥ 2`);
    this.now = o.now ?? Date.now;
  }

  /** Grants the lease and keeps it alive every third of its TTL. */
  start(): void {
    this.timer = setInterval(() => void this.tick(), (this.o.ttlSec * 1000) / 3);
    void this.tick();
  }

  /** The lease's id (decimal, as etcd3 gives it) while one is held. */
  get id(): string | undefined {
    return this.alive() ? this.grantedId : undefined;
  }

  /** Whether the lease is certainly alive in etcd now (see the class comment). */
  alive(): boolean {
    return this.lease !== undefined && this.now() < this.aliveUntil;
  }

  /** One grant or keep-alive; waits for one already in flight instead of starting another. */
  tick(): Promise<void> {
    this.running ??= this.step().finally(() => (this.running = undefined));
    return this.running;
  }

  private deadline(): { deadline: Date } {
    return { deadline: new Date(Date.now() + (this.o.callTimeoutMs ?? (this.o.ttlSec * 1000) / 3)) };
  }

  private async step(): Promise<void> {
    if (this.stopped) return;
    const sentAt = this.now();
    try {
      if (!this.lease) await this.grant(sentAt);
      else {
        const res = await this.lease.keepaliveOnce(this.deadline());
        this.setAliveUntil(sentAt + Number(res.TTL) * 1000);
      }
      this.o.onContact?.(true);
    } catch (err) {
      // Loaded here, not at the top: the etcd client (gRPC) is heavy and only etcd users load it.
      const { EtcdLeaseInvalidError } = await import('etcd3');
      if (err instanceof EtcdLeaseInvalidError) this.drop(); // expired in etcd: a new one next tick
      else if (this.lease && this.now() >= this.aliveUntil) this.drop();
      this.o.onContact?.(false, err as Error);
    }
  }

  private async grant(sentAt: number): Promise<void> {
    const lease = this.o.client.lease(this.o.ttlSec, { autoKeepAlive: false, ...this.deadline() });
    lease.on('lost', () => {}); // reported through the calls that fail
    let id: string;
    try {
      id = await lease.grant();
      if (this.stopped) throw new Error('stopped');
      this.lease = lease;
      this.grantedId = id;
      this.setAliveUntil(sentAt + this.o.ttlSec * 1000);
      await this.o.onGranted(lease);
    } catch (err) {
      if (this.lease === lease) this.drop();
      await lease.revoke(this.deadline()).catch(() => {});
      throw err;
    }
  }

  /** The lease is certainly alive until `t`; the lapse is announced then unless renewed first. */
  private setAliveUntil(t: number): void {
    this.aliveUntil = t;
    if (this.lapseTimer) clearTimeout(this.lapseTimer);
    this.lapseTimer = setTimeout(() => {
      this.lapseTimer = undefined;
      if (!this.stopped && !this.alive()) this.o.onLapse?.();
    }, Math.max(0, t - this.now()) + 1);
    this.lapseTimer.unref();
  }

  private drop(): void {
    this.lease?.release();
    this.lease = undefined;
    this.grantedId = undefined;
    this.aliveUntil = 0;
  }

  /** Stops keeping the lease and revokes it, so its keys go at once (a clean shutdown or resignation). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.lapseTimer) clearTimeout(this.lapseTimer);
    await this.running?.catch(() => {});
    const lease = this.lease;
    this.drop();
    await lease?.revoke(this.deadline()).catch(() => {});
  }
}
