import { parseEspTrailer, type EspPacketView, type EspTrailerView } from '../wire/esp.js';
import { newDropCounts, type DropCounts } from './counters.js';
import { LifetimeLimits } from './lifetime.js';
import { ReplayWindow, REPLAY_WINDOW_DEFAULT } from './replay-window.js';
import { EspGcmTransform } from './transform.js';
import type { DropCause, ExpiryReason } from './types.js';

export interface InboundSaOptions {
  spi: number;
  /** AES key ‖ 4-byte salt (20 or 36 bytes). */
  key: Uint8Array;
  limits: LifetimeLimits;
  replayWindow?: number;
}

/**
 * The receiving half of an SA: SPI, key, anti-replay window, traffic and drop counters, lifetime
 * state. Sans-I/O: it verifies and decrypts a parsed ESP packet into the caller's buffer.
 */
export class InboundSa {
  readonly spi: number;
  readonly window: ReplayWindow;
  private readonly transform: EspGcmTransform;
  private readonly limits: LifetimeLimits;

  packets = 0;
  bytes = 0;
  /** Authenticated dummy packets (next header 59) that were discarded. */
  dummyPackets = 0;
  readonly drops: DropCounts = newDropCounts();
  softReason: ExpiryReason | null = null;
  hardReason: ExpiryReason | null = null;
  /** When an authentic packet last arrived (ms), as of the last noteUse(); undefined: never. */
  lastUsedAt: number | undefined = undefined;
  private packetsAtLastUse = 0;

  constructor(opts: InboundSaOptions) {
    this.spi = opts.spi >>> 0;
    this.transform = new EspGcmTransform(opts.key);
    this.limits = opts.limits;
    this.window = new ReplayWindow(opts.replayWindow ?? REPLAY_WINDOW_DEFAULT);
  }

  get keyBits(): 128 | 256 {
    return this.transform.keyBits;
  }

  /**
   * The checks that need no cryptography (lifetime, replay window), so a caller can refuse a
   * packet before spending a buffer or a decryption on it. open() repeats them.
   */
  admit(view: EspPacketView): DropCause | null {
    if (this.hardReason !== null) return 'lifetime';
    if (!this.window.check(view.seq)) return 'replay';
    return null;
  }

  /**
   * Opens a packet whose outer layout `view` has already been parsed and whose SPI is ours.
   * Order (RFC 4303 §3.4): lifetime, replay check, ICV, then the window moves, then the trailer.
   * On success the payload is `out[outOffset .. outOffset + trailer.payloadLength]` and null is
   * returned; otherwise the drop cause (not yet counted: the caller counts it where it belongs).
   */
  open(buf: Buffer, view: EspPacketView, out: Buffer, outOffset: number, trailer: EspTrailerView): DropCause | null {
    const early = this.admit(view);
    if (early !== null) return early;
    const n = this.transform.open(buf, view, undefined, out, outOffset);
    return this.finishOpen(view.seq, n, out, outOffset, trailer);
  }

  /**
   * Called once per batch of datagrams that had packets for this SA, after they were finished:
   * when authentic packets arrived in it, they arrived at `now`. Time is taken per batch, not per
   * packet, and forged packets (bad ICV) never count as use.
   */
  noteUse(now: number): void {
    if (this.packets === this.packetsAtLastUse) return;
    this.packetsAtLastUse = this.packets;
    this.lastUsedAt = now;
  }

  /**
   * Opens a run of admitted packets of this SA in `buf`, in place, with one call into the addon
   * (see EspGcm.openBatch). Each result then goes through finishOpen(), in packet order.
   */
  openBatch(buf: Buffer, count: number, desc: Uint32Array, results: Int32Array): number {
    return this.transform.openBatch(buf, count, desc, results);
  }

  /**
   * The steps after decryption, for a packet admitted earlier: `n` is the decrypted length or -1
   * for a bad ICV. Authentic packets move the window — even if what is inside turns out to be
   * unusable, so the same packet can never be replayed — unless a hard limit was reached since
   * admission (an earlier packet of the same batch) or the number was accepted since (a
   * duplicate within the batch: 'replay').
   */
  finishOpen(seq: number, n: number, out: Buffer, outOffset: number, trailer: EspTrailerView): DropCause | null {
    if (n < 0) return 'auth_failed';
    if (this.hardReason !== null) return 'lifetime';
    if (!this.window.accept(seq)) return 'replay';
    if (parseEspTrailer(out, outOffset, n, trailer) !== null) return 'malformed';
    this.packets++;
    this.bytes += trailer.payloadLength;
    if (this.softReason === null) this.softReason = this.limits.softByVolume(this.bytes, this.packets);
    this.hardReason = this.limits.hardByVolume(this.bytes, this.packets);
    return null;
  }
}
