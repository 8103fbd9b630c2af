/**
 * IPv4 header (RFC 791) parse/build. Addresses and CIDRs as text: wire/address.ts.
 *
 * Addresses are unsigned 32-bit numbers (network order read as a big-endian integer). The parser
 * reads a header in place: the result carries offsets into the caller's buffer, never copies, and
 * a caller on the packet path passes its own reusable result object (`into`) so that parsing a
 * packet allocates nothing. Bad input is answered with a cause string, never an exception.
 */
import { checksumAdd, checksumFinish, checksumFold, checksumUpdateWord } from './checksum.js';

export const IPV4_VERSION = 4;
export const IPV4_MIN_HEADER_LENGTH = 20;
export const IPV4_MAX_HEADER_LENGTH = 60;
export const IPV4_MAX_TOTAL_LENGTH = 0xffff;

export const IPPROTO_ICMP = 1;
export const IPPROTO_IPIP = 4;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ESP = 50;

/** Flag bits in the 16-bit flags/fragment-offset word. */
export const IPV4_FLAG_DF = 0x4000;
export const IPV4_FLAG_MF = 0x2000;
const IPV4_FRAGMENT_OFFSET_MASK = 0x1fff;

/** Why a header was rejected. */
export type Ipv4ParseError =
  /** Fewer than 20 bytes, fewer than IHL*4 bytes, or fewer bytes than Total Length says. */
  | 'truncated'
  /** The version nibble is not 4. */
  | 'bad_version'
  /** IHL below 5 (a header cannot be shorter than 20 bytes). */
  | 'bad_header_length'
  /** Total Length smaller than the header itself. */
  | 'bad_total_length'
  /** The header checksum does not verify. */
  | 'bad_checksum';

/** A parsed IPv4 header: fields plus offsets into the parsed buffer. */
export interface Ipv4Header {
  /** Offset of the header in the buffer. */
  offset: number;
  /** IHL * 4, 20..60. */
  headerLength: number;
  /** Total Length field: header + payload. Bytes after it in the buffer (link padding) are not payload. */
  totalLength: number;
  /** The TOS byte (DSCP << 2 | ECN). */
  tos: number;
  identification: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** Fragment offset in bytes (the field counts 8-byte units). */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  checksum: number;
  src: number;
  dst: number;
  /** Offset and length of the options (0 length when IHL is 5). */
  optionsOffset: number;
  optionsLength: number;
  /** Offset and length of the payload, bounded by Total Length. */
  payloadOffset: number;
  payloadLength: number;
}

/** A fresh result object, for callers that reuse one across packets. */
export function newIpv4Header(): Ipv4Header {
  return {
    offset: 0, headerLength: 0, totalLength: 0, tos: 0, identification: 0, dontFragment: false,
    moreFragments: false, fragmentOffset: 0, ttl: 0, protocol: 0, checksum: 0, src: 0, dst: 0,
    optionsOffset: 0, optionsLength: 0, payloadOffset: 0, payloadLength: 0,
  };
}

/** True when the packet is a fragment (first, middle or last). */
export function isIpv4Fragment(h: Ipv4Header): boolean {
  return h.moreFragments || h.fragmentOffset !== 0;
}

/**
 * Parses the IPv4 header at `offset`; `length` is the number of bytes available from `offset`
 * (a datagram may be followed by link-layer padding, which Total Length excludes).
 * The checksum is verified unless `verifyChecksum` is false (e.g. for a packet our own TUN
 * handed us, where the kernel already did).
 */
export function parseIpv4Header(
  buf: Uint8Array,
  offset = 0,
  length: number = buf.length - offset,
  verifyChecksum = true,
  into?: Ipv4Header,
): Ipv4Header | Ipv4ParseError {
  if (length < IPV4_MIN_HEADER_LENGTH || offset < 0 || offset + length > buf.length) return 'truncated';
  const b0 = buf[offset]!;
  if (b0 >> 4 !== IPV4_VERSION) return 'bad_version';
  const headerLength = (b0 & 0x0f) * 4;
  if (headerLength < IPV4_MIN_HEADER_LENGTH) return 'bad_header_length';
  if (headerLength > length) return 'truncated';
  const totalLength = (buf[offset + 2]! << 8) | buf[offset + 3]!;
  if (totalLength < headerLength) return 'bad_total_length';
  if (totalLength > length) return 'truncated';
  if (verifyChecksum && checksumFold(checksumAdd(0, buf, offset, headerLength)) !== 0xffff) return 'bad_checksum';
  const flagsFrag = (buf[offset + 6]! << 8) | buf[offset + 7]!;
  const h = into ?? newIpv4Header();
  h.offset = offset;
  h.headerLength = headerLength;
  h.totalLength = totalLength;
  h.tos = buf[offset + 1]!;
  h.identification = (buf[offset + 4]! << 8) | buf[offset + 5]!;
  h.dontFragment = (flagsFrag & IPV4_FLAG_DF) !== 0;
  h.moreFragments = (flagsFrag & IPV4_FLAG_MF) !== 0;
  h.fragmentOffset = (flagsFrag & IPV4_FRAGMENT_OFFSET_MASK) * 8;
  h.ttl = buf[offset + 8]!;
  h.protocol = buf[offset + 9]!;
  h.checksum = (buf[offset + 10]! << 8) | buf[offset + 11]!;
  h.src = readU32(buf, offset + 12);
  h.dst = readU32(buf, offset + 16);
  h.optionsOffset = offset + IPV4_MIN_HEADER_LENGTH;
  h.optionsLength = headerLength - IPV4_MIN_HEADER_LENGTH;
  h.payloadOffset = offset + headerLength;
  h.payloadLength = totalLength - headerLength;
  return h;
}

/** Fields of a header to build. Lengths in bytes. */
export interface Ipv4HeaderFields {
  src: number;
  dst: number;
  protocol: number;
  /** Bytes that will follow the header. */
  payloadLength: number;
  ttl?: number;
  tos?: number;
  identification?: number;
  dontFragment?: boolean;
  moreFragments?: boolean;
  /** In bytes; must be a multiple of 8. */
  fragmentOffset?: number;
  /** Raw options, a multiple of 4 bytes, at most 40. */
  options?: Uint8Array;
}

/**
 * Writes an IPv4 header with its checksum at `offset` and returns its length (20 + options).
 * Throws RangeError on fields that cannot be encoded: that is a programming error, not bad input.
 */
export function writeIpv4Header(buf: Uint8Array, offset: number, f: Ipv4HeaderFields): number {
  const optLen = f.options?.length ?? 0;
  if (optLen % 4 !== 0 || optLen > IPV4_MAX_HEADER_LENGTH - IPV4_MIN_HEADER_LENGTH) {
    throw new RangeError(`IPv4 options must be a multiple of 4 bytes and at most 40, got ${optLen}`);
  }
  const headerLength = IPV4_MIN_HEADER_LENGTH + optLen;
  const totalLength = headerLength + f.payloadLength;
  if (!Number.isInteger(f.payloadLength) || f.payloadLength < 0 || totalLength > IPV4_MAX_TOTAL_LENGTH) {
    throw new RangeError(`IPv4 total length ${totalLength} does not fit 16 bits`);
  }
  const fragOff = f.fragmentOffset ?? 0;
  if (fragOff % 8 !== 0 || fragOff / 8 > IPV4_FRAGMENT_OFFSET_MASK) {
    throw new RangeError(`IPv4 fragment offset ${fragOff} is not a multiple of 8 below 65536`);
  }
  if (offset < 0 || offset + headerLength > buf.length) throw new RangeError('IPv4 header does not fit the buffer');
  buf[offset] = (IPV4_VERSION << 4) | (headerLength / 4);
  buf[offset + 1] = (f.tos ?? 0) & 0xff;
  writeU16(buf, offset + 2, totalLength);
  writeU16(buf, offset + 4, f.identification ?? 0);
  writeU16(buf, offset + 6, (f.dontFragment ? IPV4_FLAG_DF : 0) | (f.moreFragments ? IPV4_FLAG_MF : 0) | (fragOff / 8));
  buf[offset + 8] = (f.ttl ?? 64) & 0xff;
  buf[offset + 9] = f.protocol & 0xff;
  buf[offset + 10] = 0;
  buf[offset + 11] = 0;
  writeU32(buf, offset + 12, f.src);
  writeU32(buf, offset + 16, f.dst);
  if (optLen > 0) buf.set(f.options!, offset + IPV4_MIN_HEADER_LENGTH);
  writeU16(buf, offset + 10, checksumFinish(checksumAdd(0, buf, offset, headerLength)));
  return headerLength;
}

/** Recomputes the header checksum in place (after editing a field). */
export function refreshIpv4Checksum(buf: Uint8Array, offset: number): void {
  const headerLength = (buf[offset]! & 0x0f) * 4;
  buf[offset + 10] = 0;
  buf[offset + 11] = 0;
  writeU16(buf, offset + 10, checksumFinish(checksumAdd(0, buf, offset, headerLength)));
}

/**
 * Decrements the TTL in place with an incremental checksum update (RFC 1624), as a router does.
 * Returns the new TTL; 0 means the packet must not be forwarded.
 */
export function decrementIpv4Ttl(buf: Uint8Array, offset: number): number {
  const ttl = buf[offset + 8]!;
  if (ttl === 0) return 0;
  const oldWord = (ttl << 8) | buf[offset + 9]!;
  buf[offset + 8] = ttl - 1;
  const checksum = (buf[offset + 10]! << 8) | buf[offset + 11]!;
  writeU16(buf, offset + 10, checksumUpdateWord(checksum, oldWord, oldWord - 0x100));
  return ttl - 1;
}

// ---- addresses in headers (their text form is wire/address.ts) ----

/** Reads an IPv4 address stored at `offset`. */
export function readIPv4(buf: Uint8Array, offset: number): number {
  return readU32(buf, offset);
}

/** Writes an IPv4 address at `offset`. */
export function writeIPv4(buf: Uint8Array, offset: number, addr: number): void {
  writeU32(buf, offset, addr);
}

// ---- byte helpers (no DataView allocation per packet) ----

function readU32(buf: Uint8Array, o: number): number {
  return ((buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!) >>> 0;
}

function writeU32(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 24;
  buf[o + 1] = (v >>> 16) & 0xff;
  buf[o + 2] = (v >>> 8) & 0xff;
  buf[o + 3] = v & 0xff;
}

function writeU16(buf: Uint8Array, o: number, v: number): void {
  buf[o] = (v >>> 8) & 0xff;
  buf[o + 1] = v & 0xff;
}
