/**
 * Hands out buffers for packets whose life ends at a known point (a batch flushed, a callback
 * returned), from one large buffer reused after reset(). Per-packet Buffer.allocUnsafe costs
 * little by itself, but every 8 KB pool slab is a new ArrayBuffer, and at tens of thousands of
 * packets a second that external memory drives V8 into frequent full garbage collections.
 */
export class BufferArena {
  private buf: Buffer;
  private used = 0;

  /** `size`: bytes per slab; a request larger than that gets a buffer of its own. */
  constructor(private readonly size = 1 << 20) {
    this.buf = Buffer.allocUnsafeSlow(size);
  }

  /**
   * `length` bytes, valid until the next reset(). When the slab is used up a new one is started
   * (the old one lives on in the views handed out, until they are dropped).
   */
  take(length: number): Buffer {
    if (length > this.size) return Buffer.allocUnsafe(length);
    if (this.used + length > this.buf.length) {
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
