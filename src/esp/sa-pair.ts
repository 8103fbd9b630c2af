import { LifetimeLimits } from './lifetime.js';
import { InboundSa } from './sa-inbound.js';
import { OutboundSa } from './sa-outbound.js';
import type { EspEvent, EspMode, ExpiryReason, Lifetime } from './types.js';

export interface SaPairOptions {
  child: string;
  mode: EspMode;
  spiIn: number;
  spiOut: number;
  keyIn: Uint8Array;
  keyOut: Uint8Array;
  replayWindow?: number;
  softLifetime?: Lifetime;
  hardLifetime?: Lifetime;
  proposal?: string;
  installedAt: number;
  testOnlyFirstSeqOut?: number;
}

/**
 * One negotiated (or manually keyed) child SA: the inbound and outbound SA that were installed
 * together and expire together. Lifetime events are raised here, once each per pair: the first
 * soft limit reached by either direction (or by age) asks for a rekey; the first hard limit ends
 * both directions.
 */
export class SaPair {
  readonly child: string;
  readonly mode: EspMode;
  readonly inbound: InboundSa;
  readonly outbound: OutboundSa;
  readonly installedAt: number;
  readonly proposal: string;
  private readonly limits: LifetimeLimits;
  /** Kept only to recognise a repeated install of the very same pair. */
  private readonly keys: Buffer;
  /** Outbound waits for the peer (ChildSpec.deferOutbound); cleared by the first authentic inbound packet. */
  outboundDeferred = false;
  /** A DELETE for this pair is on its way: outbound uses another pair of the child if there is one. */
  outboundRetired = false;
  private softEmitted = false;
  private hardEmitted = false;

  constructor(opts: SaPairOptions) {
    this.child = opts.child;
    this.mode = opts.mode;
    this.installedAt = opts.installedAt;
    this.limits = new LifetimeLimits(opts.softLifetime, opts.hardLifetime);
    this.inbound = new InboundSa({ spi: opts.spiIn, key: opts.keyIn, limits: this.limits, replayWindow: opts.replayWindow });
    this.outbound = new OutboundSa({
      spi: opts.spiOut,
      key: opts.keyOut,
      limits: this.limits,
      testOnlyFirstSeq: opts.testOnlyFirstSeqOut,
    });
    this.proposal = opts.proposal ?? `AES_GCM_16_${this.outbound.keyBits}`;
    // Memory of its own: Buffer.concat returns a slice of Node's shared 8 KB pool, which one long-lived
    // SA would keep alive whole (measured: ~7.8 KB per peer in the 1000-peer mesh).
    const keys = Buffer.alloc(opts.keyIn.length + opts.keyOut.length);
    keys.set(opts.keyIn, 0);
    keys.set(opts.keyOut, opts.keyIn.length);
    this.keys = keys;
  }

  /** True when this pair was installed with exactly these SPIs and keys. */
  sameAs(spiIn: number, spiOut: number, keyIn: Uint8Array, keyOut: Uint8Array): boolean {
    return this.spiIn === spiIn >>> 0 && this.spiOut === spiOut >>> 0 && this.keys.equals(Buffer.concat([keyIn, keyOut]));
  }

  get spiIn(): number {
    return this.inbound.spi;
  }

  get spiOut(): number {
    return this.outbound.spi;
  }

  /** True once a hard limit ended this pair: it neither sends nor accepts. */
  get expired(): boolean {
    return this.hardEmitted || this.inbound.hardReason !== null || this.outbound.hardReason !== null;
  }

  /** Applies the time limits at `now` (ms). */
  checkAge(now: number, emit: (e: EspEvent) => void): void {
    const age = now - this.installedAt;
    if (!this.hardEmitted && this.limits.hardByAge(age)) {
      this.inbound.hardReason ??= 'time';
      this.outbound.hardReason ??= 'time';
    }
    if (this.limits.softByAge(age)) {
      this.inbound.softReason ??= 'time';
    }
    this.raiseEvents(emit);
  }

  /** Raises the soft/hard events that traffic or age made due; cheap when nothing changed. */
  raiseEvents(emit: (e: EspEvent) => void): void {
    if (!this.softEmitted && !this.hardEmitted) {
      const soft: ExpiryReason | null = this.outbound.softReason ?? this.inbound.softReason;
      if (soft !== null) {
        this.softEmitted = true;
        emit({ type: 'soft-expired', child: this.child, spiIn: this.spiIn, reason: soft });
      }
    }
    if (!this.hardEmitted) {
      const hard: ExpiryReason | null = this.outbound.hardReason ?? this.inbound.hardReason;
      if (hard !== null) {
        this.hardEmitted = true;
        // A hard limit on either direction ends both: the pair was negotiated as one.
        this.inbound.hardReason ??= hard;
        this.outbound.hardReason ??= hard;
        emit({ type: 'hard-expired', child: this.child, spiIn: this.spiIn, reason: hard });
      }
    }
  }

  /** Seconds until the soft time limit, or null when there is none. */
  rekeyInSeconds(now: number): number | null {
    const after = this.limits.softAfterMs;
    if (!Number.isFinite(after)) return null;
    return Math.max(0, Math.round((this.installedAt + after - now) / 1000));
  }
}
