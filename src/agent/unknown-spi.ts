/**
 * ESP for an SPI we do not know, from a node we expect a tunnel with, while we hold no IKE SA to
 * it: the sender still has SAs with us that we lost — we rebooted (or were restarted) and it did
 * not notice. Waiting for it (its DPD, or the responder's grace period) costs seconds of traffic;
 * initiating at once, with INITIAL_CONTACT, makes it drop the stale SAs and use the new ones.
 *
 * Anyone can send ESP with a made-up SPI and a spoofed source, so this is bounded: a peer is
 * looked at no more than once per `checkIntervalMs` (the packets in between cost a map lookup),
 * an initiation happens only when the engine holds no live IKE SA for the peer (one in progress
 * counts: it retransmits on its own), and initiations across all peers draw on a token bucket.
 * Every packet handed here is counted under exactly one outcome.
 */

export interface UnknownSpiCounters {
  /** From an address that is no peer of ours (or not yet): nothing to do. */
  not_a_peer: number;
  /** Within a peer's check interval: not looked at. */
  held_back: number;
  /** Looked at, and an IKE SA to the peer is up or on its way (e.g. late packets of an old SA). */
  ike_sa_live: number;
  /** No IKE SA: an initiation was started. */
  initiated: number;
  /** No IKE SA, but the initiation budget across peers was spent. */
  over_budget: number;
}

export interface UnknownSpiOptions {
  now: () => number;
  /** At most one look per peer in this long (ms). */
  checkIntervalMs?: number;
  /** Initiations across all peers: a bucket of `burst`, refilled at `perSecond`. */
  burst?: number;
  perSecond?: number;
}

/** What the decision needs from the agent for one peer. */
export interface UnknownSpiPeer {
  /** The connection (tunnel) name. */
  name: string;
  hasLiveIkeSa(): boolean;
  initiate(): void;
}

export class UnknownSpiTrigger {
  readonly counters: UnknownSpiCounters = { not_a_peer: 0, held_back: 0, ike_sa_live: 0, initiated: 0, over_budget: 0 };
  private readonly lastCheck = new Map<string, number>();
  private readonly checkIntervalMs: number;
  private readonly burst: number;
  private readonly perSecond: number;
  private tokens: number;
  private refilledAt: number;

  constructor(private readonly opts: UnknownSpiOptions) {
    this.checkIntervalMs = opts.checkIntervalMs ?? 1000;
    this.burst = opts.burst ?? 20;
    this.perSecond = opts.perSecond ?? 10;
    this.tokens = this.burst;
    this.refilledAt = opts.now();
  }

  /** One packet refused as unknown_spi, from `peer` (undefined: the sender is no peer). Returns whether an initiation started. */
  onPacket(peer: UnknownSpiPeer | undefined): boolean {
    if (!peer) {
      this.counters.not_a_peer++;
      return false;
    }
    const now = this.opts.now();
    const last = this.lastCheck.get(peer.name);
    if (last !== undefined && now - last < this.checkIntervalMs) {
      this.counters.held_back++;
      return false;
    }
    this.lastCheck.set(peer.name, now);
    if (peer.hasLiveIkeSa()) {
      this.counters.ike_sa_live++;
      return false;
    }
    this.refill(now);
    if (this.tokens < 1) {
      this.counters.over_budget++;
      return false;
    }
    this.tokens--;
    this.counters.initiated++;
    peer.initiate();
    return true;
  }

  /** Forgets a peer that left (its check time). */
  forget(name: string): void {
    this.lastCheck.delete(name);
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.perSecond);
    this.refilledAt = now;
  }
}
