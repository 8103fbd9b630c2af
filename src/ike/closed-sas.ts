import type { Endpoint } from './events.js';

/**
 * Answers to DELETEs of IKE SAs the peer closed, kept a short while after the SA itself is gone.
 *
 * The peer's DELETE removes the IKE SA here at once (RFC 7296 §1.4.1). When our answer is lost,
 * the peer retransmits a request we can no longer decrypt, and without an answer it holds the SA
 * in "deleting" until its retransmits give up (about a minute with ours). §2.1 asks a responder to
 * answer a retransmitted request with the same response; this does that for the one request that
 * outlives its SA: a retransmission (the same bytes) of the DELETE gets the cached answer again.
 *
 * Bounded: entries live `ttlMs` and at most `max` are kept (the oldest go first); one is made only
 * by an authenticated DELETE of an established SA, and an answer is only ever the same bytes we
 * already sent to that peer.
 */
interface Closed {
  request: Buffer;
  packets: Buffer[];
  local: Endpoint;
  remote: Endpoint;
  until: number;
}

export class ClosedSaAnswers {
  private readonly byOurSpi = new Map<string, Closed>();

  constructor(private readonly ttlMs = 30_000, private readonly max = 256) {}

  get size(): number {
    return this.byOurSpi.size;
  }

  remember(ourSpi: string, request: Buffer, packets: Buffer[], local: Endpoint, remote: Endpoint, now: number): void {
    this.prune(now);
    if (this.byOurSpi.size >= this.max) this.byOurSpi.delete(this.byOurSpi.keys().next().value!);
    this.byOurSpi.set(ourSpi, { request: Buffer.from(request), packets, local: { ...local }, remote: { ...remote }, until: now + this.ttlMs });
  }

  /** The answer to send again when `request` repeats the DELETE that closed SA `ourSpi`. */
  answer(ourSpi: string, request: Buffer, now: number): { packets: Buffer[]; local: Endpoint; remote: Endpoint } | undefined {
    const c = this.byOurSpi.get(ourSpi);
    if (!c) return undefined;
    if (c.until <= now) {
      this.byOurSpi.delete(ourSpi);
      return undefined;
    }
    return c.request.equals(request) ? c : undefined;
  }

  private prune(now: number): void {
    for (const [k, c] of this.byOurSpi) {
      if (c.until > now) break; // insertion order is expiry order
      this.byOurSpi.delete(k);
    }
  }
}
