/**
 * Hands out buffers for packets whose life ends at a known point (a batch flushed, a callback
 * returned), from one large buffer reused after reset(). Per-packet Buffer.allocUnsafe costs
 * little by itself, but every 8 KB pool slab is a new ArrayBuffer, and at tens of thousands of
 * packets a second that external memory drives V8 into frequent full garbage collections.
 */
export class BufferArena {
  private buf: Buffer;
  private used = 0;

  /**
   * `size`: bytes of the first slab. When a batch needs more, a slab twice as large replaces it
   * (up to `maxSize`), so a steady load soon fits one slab and allocates nothing at all.
   */
  constructor(private size = 1 << 20, private readonly maxSize = 64 << 20) {
    this.buf = Buffer.allocUnsafeSlow(size);
  }

  /**
   * `length` bytes, valid until the next reset(). When the slab is used up a larger one is
   * started (the old one lives on in the views handed out, until they are dropped).
   */
  take(length: number): Buffer {
    if (this.used + length > this.buf.length) {
      if (length > this.maxSize) return Buffer.allocUnsafe(length);
      this.size = Math.min(this.maxSize, Math.max(this.size * 2, length));
      this.buf = Buffer.allocUnsafeSlow(this.size);
      this.used = 0;
    }
    const b = this.buf.subarray(this.used, this.used + length);
    // 8-byte alignment keeps every packet's start word-aligned for the copies and the cipher.
    this.used += (length + 7) & ~7;
    return b;
  }

  /** Every buffer taken since the last reset is dead: the space is reused from the start. */
  reset(): void {
    this.used = 0;
  }
}
