/**
 * The Internet checksum (RFC 1071): the 16-bit one's complement of the one's complement sum of
 * the data taken as big-endian 16-bit words (an odd final byte is padded with a zero byte).
 *
 * The functions are split so that a header checksum can be built from pieces without copying:
 * accumulate with `checksumAdd` (or `ipv4PseudoHeaderSum` for UDP/TCP), then `checksumFinish`.
 * Sums are kept unfolded in a plain number: each step adds at most 0xffff per word, so even a
 * 64 KiB datagram stays far below 2^53 and no carry is lost; folding happens once at the end.
 */

/**
 * Adds the bytes buf[offset, offset + length) as big-endian 16-bit words to `sum` and returns the
 * new (unfolded) sum. `length` may be odd only for the last piece of a checksummed range.
 */
export function checksumAdd(sum: number, buf: Uint8Array, offset: number, length: number): number {
  const end = offset + length;
  let i = offset;
  if (length >= LONG_RANGE) {
    // Long ranges (whole UDP datagrams): sum 32-bit big-endian words through a DataView, which V8
    // compiles to plain loads; 16 K words of at most 2^32 stay far below 2^53, and folding a sum of
    // 32-bit words to 16 bits gives the same one's complement sum (RFC 1071 §2, "parallel summation").
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const end4 = end - 3;
    for (; i < end4; i += 4) sum += dv.getUint32(i);
  }
  const evenEnd = end - ((end - i) & 1);
  for (; i < evenEnd; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) sum += buf[i]! << 8;
  return sum;
}

/** Below this length the byte loop is cheaper than creating a DataView. */
const LONG_RANGE = 64;

/** Adds one 16-bit word. */
export function checksumAddWord(sum: number, word: number): number {
  return sum + (word & 0xffff);
}

/** Adds a 32-bit value as two 16-bit words (an IPv4 address). */
export function checksumAddU32(sum: number, value: number): number {
  return sum + (value >>> 16) + (value & 0xffff);
}

/** Folds the carries of an unfolded sum into 16 bits (the one's complement sum, not inverted). */
export function checksumFold(sum: number): number {
  // A number up to 2^53 needs more than two folds; the loop ends after at most four.
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum field value: the one's complement of the folded sum. */
export function checksumFinish(sum: number): number {
  return ~checksumFold(sum) & 0xffff;
}

/** Internet checksum of buf[offset, offset + length). */
export function internetChecksum(buf: Uint8Array, offset: number, length: number, initialSum = 0): number {
  return checksumFinish(checksumAdd(initialSum, buf, offset, length));
}

/**
 * True when a range that contains its own checksum field verifies: the folded sum over the range
 * (plus `initialSum`, e.g. a pseudo-header) is 0xffff.
 */
export function checksumVerifies(buf: Uint8Array, offset: number, length: number, initialSum = 0): boolean {
  return checksumFold(checksumAdd(initialSum, buf, offset, length)) === 0xffff;
}

/**
 * The IPv4 pseudo-header of UDP and TCP (RFC 768, RFC 793): source, destination, zero ‖ protocol,
 * and the transport length. Returned unfolded, to be passed as `initialSum`.
 */
export function ipv4PseudoHeaderSum(src: number, dst: number, protocol: number, transportLength: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + (protocol & 0xff) + (transportLength & 0xffff);
}

/**
 * Incremental update (RFC 1624, eqn. 3): the new checksum after one 16-bit word of the covered
 * data changed from `oldWord` to `newWord`, without summing the data again (e.g. a TTL decrement).
 */
export function checksumUpdateWord(oldChecksum: number, oldWord: number, newWord: number): number {
  // HC' = ~(~HC + ~m + m')
  const sum = (~oldChecksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~checksumFold(sum) & 0xffff;
}
