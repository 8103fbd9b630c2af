/**
 * The receiver's anti-replay window (RFC 4303 §3.4.3), 32-bit sequence numbers.
 *
 * The window covers the `size` sequence numbers ending at the highest one verified so far.
 * Bits live in a ring of 32-bit words (the RFC 6479 layout), with one spare word so that
 * sliding the window forward only clears whole words and never shifts the bitmap.
 *
 * Use it in two steps, as the RFC orders them: `check()` before the ICV is verified (cheap
 * rejection of duplicates and stale packets), `accept()` only after the ICV verified, so that
 * forged packets can never move the window.
 */
export const REPLAY_WINDOW_DEFAULT = 1024;
export const REPLAY_WINDOW_MAX = 4096;

export class ReplayWindow {
  readonly size: number;
  private readonly words: Uint32Array;
  /** Highest sequence number accepted so far (0 = none yet). */
  private top = 0;

  constructor(size: number = REPLAY_WINDOW_DEFAULT) {
    if (!Number.isInteger(size) || size < 1 || size > REPLAY_WINDOW_MAX) {
      throw new RangeError(`replay window must be an integer from 1 to ${REPLAY_WINDOW_MAX}, got ${size}`);
    }
    this.size = size;
    this.words = new Uint32Array(Math.ceil(size / 32) + 1);
  }

  /** Highest sequence number accepted so far, 0 before the first. */
  get highest(): number {
    return this.top;
  }

  /** True when `seq` may be new: not 0, not older than the window, not already seen. */
  check(seq: number): boolean {
    if (seq === 0) return false; // the sender's counter starts at 1; 0 is never sent
    if (seq > this.top) return true;
    if (this.top - seq >= this.size) return false;
    const word = this.words[(seq >>> 5) % this.words.length]!;
    return (word & (1 << (seq & 31))) === 0;
  }

  /**
   * Records `seq` as received. Call only after `check(seq)` returned true and the ICV verified;
   * returns false (and changes nothing) if `seq` turned out not to be new after all.
   */
  accept(seq: number): boolean {
    if (!this.check(seq)) return false;
    const n = this.words.length;
    if (seq > this.top) {
      // Clear the words the window slides over (at most the whole ring).
      const fromBlock = this.top >>> 5;
      const toBlock = seq >>> 5;
      const steps = Math.min(toBlock - fromBlock, n);
      for (let i = 1; i <= steps; i++) this.words[(fromBlock + i) % n] = 0;
      this.top = seq;
    }
    const idx = (seq >>> 5) % n;
    this.words[idx] = this.words[idx]! | (1 << (seq & 31));
    return true;
  }
}
