import { LifetimeLimits } from './lifetime.js';
import { EspGcmTransform } from './transform.js';
import { ESP_HEADER_LENGTH, writeEspHeader, writeEspIv } from '../wire/esp.js';
import type { ExpiryReason } from './types.js';

/**
 * Sequence numbers are 32 bits (no ESN: strongSwan negotiates NO_EXT_SEQ) and must never wrap
 * (RFC 4303 §3.3.3). Ask for a rekey when this many are used (2^26 ≈ 67 million before the end,
 * over a minute even at a million packets per second)…
 */
export const SEQ_SOFT_LIMIT = 0x1_0000_0000 - 0x0400_0000;
/** …and refuse to send once the next number would be 2^32 - 1. */
export const SEQ_HARD_LIMIT = 0xffff_ffff;

export interface OutboundSaOptions {
  spi: number;
  /** AES key ‖ 4-byte salt (20 or 36 bytes). */
  key: Uint8Array;
  limits: LifetimeLimits;
  /** Test only: the first sequence number to send (default 1), to reach exhaustion quickly. */
  testOnlyFirstSeq?: number;
  /**
   * Test only, and unsafe anywhere else: send every packet with this 8-byte IV instead of the
   * counter. Exists so a known-answer test can reproduce a published packet bit for bit.
   */
  unsafeFixedIvForKnownAnswerTest?: Uint8Array;
}

/**
 * The sending half of an SA: SPI, key, sequence counter, IV counter, traffic counters and
 * lifetime state. Sans-I/O: it turns payloads into ESP packets in the caller's buffer.
 */
export class OutboundSa {
  readonly spi: number;
  private readonly transform: EspGcmTransform;
  private readonly limits: LifetimeLimits;
  /** The sequence number the next packet will carry. */
  private nextSeq: number;
  /**
   * The explicit IV is a 64-bit counter (RFC 4106 §3.1 only asks that it never repeat for a
   * key). It advances with every packet, independently of the sequence number.
   */
  private ivHigh = 0;
  private ivLow = 0;
  private readonly fixedIv: { high: number; low: number } | null;
  /** The IV reserveAt() gave the last packet. */
  private lastIvHigh = 0;
  private lastIvLow = 0;

  packets = 0;
  bytes = 0;
  /** Packets this SA was asked to send after a hard limit (counted by the data path). */
  refused = 0;
  /** The soft limit reached, if any (the SA still works). */
  softReason: ExpiryReason | null = null;
  /** The hard limit reached, if any (the SA refuses to send). */
  hardReason: ExpiryReason | null = null;

  constructor(opts: OutboundSaOptions) {
    this.spi = opts.spi >>> 0;
    this.transform = new EspGcmTransform(opts.key);
    this.limits = opts.limits;
    const first = opts.testOnlyFirstSeq ?? 1;
    if (!Number.isInteger(first) || first < 1 || first > SEQ_HARD_LIMIT) {
      throw new RangeError(`first sequence number must be 1..${SEQ_HARD_LIMIT}, got ${first}`);
    }
    this.nextSeq = first;
    this.ivLow = first - 1;
    const iv = opts.unsafeFixedIvForKnownAnswerTest;
    if (iv !== undefined) {
      if (iv.length !== 8) throw new RangeError('a fixed IV must be 8 bytes');
      const b = Buffer.from(iv);
      this.fixedIv = { high: b.readUInt32BE(0), low: b.readUInt32BE(4) };
    } else {
      this.fixedIv = null;
    }
    if (this.nextSeq >= SEQ_SOFT_LIMIT) this.softReason = 'seq';
  }

  get keyBits(): 128 | 256 {
    return this.transform.keyBits;
  }

  /** The last sequence number sent (0 before the first packet). */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /**
   * Seals `length` payload bytes at `src[offset]` as one ESP packet into `out` at `outOffset`.
   * Returns the packet length, or -1 when the SA may not send (hard lifetime or sequence numbers
   * used up; `hardReason` says which).
   */
  seal(src: Buffer, offset: number, length: number, nextHeader: number, out: Buffer, outOffset: number): number {
    if (!this.reserveAt(out, outOffset, length)) return -1;
    const seq = this.nextSeq - 1;
    return this.transform.seal(this.spi, seq, undefined, this.lastIvHigh, this.lastIvLow, src, offset, length, nextHeader, out, outOffset);
  }

  /**
   * The batch path's first half: takes the next sequence number and IV for a payload of
   * `length` bytes, counts it, and writes SPI ‖ seq ‖ IV at `out[outOffset]`. The caller then
   * places payload ‖ trailer after them and seals the run with sealBatch(). Returns false (and
   * writes nothing) when the SA may not send; `hardReason` says why.
   */
  reserveAt(out: Buffer, outOffset: number, length: number): boolean {
    if (this.hardReason !== null) return false;
    if (this.nextSeq >= SEQ_HARD_LIMIT) {
      this.hardReason = 'seq';
      return false;
    }
    const volume = this.limits.hardByVolume(this.bytes, this.packets);
    if (volume !== null) {
      this.hardReason = volume;
      return false;
    }
    const seq = this.nextSeq++;
    if (this.fixedIv !== null) {
      this.lastIvHigh = this.fixedIv.high;
      this.lastIvLow = this.fixedIv.low;
    } else {
      this.ivLow = (this.ivLow + 1) >>> 0;
      if (this.ivLow === 0) this.ivHigh = (this.ivHigh + 1) >>> 0;
      this.lastIvHigh = this.ivHigh;
      this.lastIvLow = this.ivLow;
    }
    writeEspHeader(out, outOffset, this.spi, seq);
    writeEspIv(out, outOffset + ESP_HEADER_LENGTH, this.lastIvHigh, this.lastIvLow);
    this.packets++;
    this.bytes += length;
    if (this.softReason === null) {
      this.softReason = this.nextSeq >= SEQ_SOFT_LIMIT ? 'seq' : this.limits.softByVolume(this.bytes, this.packets);
    }
    // Reaching a hard limit ends the SA now, so the owner hears of it at once.
    if (this.nextSeq >= SEQ_HARD_LIMIT) this.hardReason = 'seq';
    else this.hardReason = this.limits.hardByVolume(this.bytes, this.packets);
    return true;
  }

  /**
   * Seals packets laid out by reserveAt() in `buf` (see EspGcmTransform.sealBatch): one call into
   * the addon for the run. Returns how many were sealed.
   */
  sealBatch(buf: Buffer, count: number, desc: Uint32Array): number {
    return this.transform.sealBatch(buf, count, desc);
  }
}
