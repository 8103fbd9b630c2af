/**
 * Paces the IKE SAs we initiate, so that a node told to reach 1000 peers at once does not send
 * 1000 IKE_SA_INITs in one burst, fall behind on its own CPU (and the peers on theirs), and then
 * multiply the work with retransmissions. strongSwan and libreswan bound half-open IKE SAs the
 * same way; this is the initiator's side of it.
 *
 * At most `window` initiations are in flight (IKE_SA_INIT or IKE_AUTH outstanding); the rest wait
 * in order. The window adapts like a congestion window: it starts at `max`, every initiation that
 * needs a retransmission halves it (the peers or we are not keeping up: send less), and every one
 * that completes widens it by one, up to `max`. An initiation being retransmitted also gives up
 * its slot: a dead peer must not hold one for the minute its retransmissions take, blocking the
 * live ones behind it.
 *
 * With `spacingMs`, starts are also spread in time: after each, the next waits spacingMs × a
 * random factor in [0.5, 1.5). A node that learns of 99 peers at once then sends its IKE_SA_INITs
 * over a second or two instead of in one burst that every responder (and the node itself, for the
 * answers' DH) must work through at the same moment — and whose queueing delay reads as loss.
 * Pure bookkeeping: the engine starts what `takeStartable` returns, and wakes at `wakeAt`.
 */
export class InitiationPacer {
  private readonly inFlight = new Set<number>();
  private readonly pending: string[] = [];
  private win: number;
  private nextStartAt = -Infinity;

  constructor(readonly max: number, readonly spacingMs = 0, private readonly random: () => number = Math.random) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`initiation window must be a positive integer, got ${max}`);
    if (!(spacingMs >= 0)) throw new RangeError(`initiation spacing must be >= 0 ms, got ${spacingMs}`);
    this.win = max;
  }

  /** The current window (1..max). */
  get window(): number {
    return this.win;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  /**
   * Asks for an initiation of `conn`. Returns true when it may start now (the caller then calls
   * `started`); otherwise it waits, once per connection: asking again for a connection already
   * waiting changes nothing.
   */
  request(conn: string, now: number): boolean {
    if (this.pending.length === 0 && this.inFlight.size < this.win && now >= this.nextStartAt) return true;
    if (!this.pending.includes(conn)) this.pending.push(conn);
    return false;
  }

  started(serial: number, now: number): void {
    this.inFlight.add(serial);
    if (this.spacingMs > 0) this.nextStartAt = now + this.spacingMs * (0.5 + this.random());
  }

  /** Connections whose turn has come, oldest first; each is removed from the waiting list. */
  takeStartable(now: number): string[] {
    let n = Math.max(0, Math.min(this.pending.length, this.win - this.inFlight.size));
    if (this.spacingMs > 0) n = now >= this.nextStartAt ? Math.min(n, 1) : 0;
    return this.pending.splice(0, n);
  }

  /** When a waiting initiation is held by the spacing alone: the time it may start. */
  wakeAt(): number | undefined {
    return this.spacingMs > 0 && this.pending.length > 0 && this.inFlight.size < this.win ? this.nextStartAt : undefined;
  }

  /** The initiation of IKE SA `serial` ended: established (`ok`) or failed. */
  settled(serial: number, ok: boolean): void {
    const had = this.inFlight.delete(serial);
    if (ok && had) this.win = Math.min(this.max, this.win + 1);
  }

  /** IKE SA `serial`'s request had to be retransmitted. */
  retransmitting(serial: number): void {
    if (!this.inFlight.delete(serial)) return;
    this.win = Math.max(1, Math.floor(this.win / 2));
  }

  /** Forgets waiting initiations of `conn` (terminated or removed); true when there were some. */
  cancel(conn: string): boolean {
    const i = this.pending.indexOf(conn);
    if (i < 0) return false;
    this.pending.splice(i, 1);
    return true;
  }
}
