/**
 * UDP header (RFC 768) parse/build with the IPv4 pseudo-header checksum.
 *
 * Over IPv4 a zero checksum means "not computed" and is accepted on receive; a computed checksum
 * of zero is sent as 0xffff. Like the IPv4 parser, the result points into the caller's buffer and
 * can be a reused object; bad input yields a cause string.
 */
import { checksumAdd, checksumFinish, checksumFold, ipv4PseudoHeaderSum } from './checksum.js';
import { IPPROTO_UDP, writeIpv4Header, type Ipv4HeaderFields } from './ipv4.js';

export const UDP_HEADER_LENGTH = 8;
/** Largest UDP payload inside an IPv4 packet without options: 65535 - 20 - 8. */
export const UDP_MAX_IPV4_PAYLOAD = 65507;

export type UdpParseError =
  /** Fewer than 8 bytes, or fewer bytes than the Length field says. */
  | 'truncated'
  /** Length field below 8. */
  | 'bad_length'
  /** A non-zero checksum that does not verify against the pseudo-header. */
  | 'bad_checksum';

export interface UdpHeader {
  offset: number;
  srcPort: number;
  dstPort: number;
  /** The Length field: header + payload. */
  length: number;
  /** 0 when the sender did not compute one. */
  checksum: number;
  payloadOffset: number;
  payloadLength: number;
}

export function newUdpHeader(): UdpHeader {
  return { offset: 0, srcPort: 0, dstPort: 0, length: 0, checksum: 0, payloadOffset: 0, payloadLength: 0 };
}

/**
 * Parses the UDP header at `offset`; `length` is the number of bytes the IP layer says belong to
 * the datagram (the IPv4 payload length). When `ipSrc` and `ipDst` are given, a non-zero checksum
 * is verified against the IPv4 pseudo-header; without them the checksum is not checked.
 */
export function parseUdpHeader(
  buf: Uint8Array,
  offset: number,
  length: number,
  ipSrc?: number,
  ipDst?: number,
  into?: UdpHeader,
): UdpHeader | UdpParseError {
  if (length < UDP_HEADER_LENGTH || offset < 0 || offset + length > buf.length) return 'truncated';
  const udpLength = (buf[offset + 4]! << 8) | buf[offset + 5]!;
  if (udpLength < UDP_HEADER_LENGTH) return 'bad_length';
  if (udpLength > length) return 'truncated';
  const checksum = (buf[offset + 6]! << 8) | buf[offset + 7]!;
  if (checksum !== 0 && ipSrc !== undefined && ipDst !== undefined) {
    const sum = checksumAdd(ipv4PseudoHeaderSum(ipSrc, ipDst, IPPROTO_UDP, udpLength), buf, offset, udpLength);
    if (checksumFold(sum) !== 0xffff) return 'bad_checksum';
  }
  const h = into ?? newUdpHeader();
  h.offset = offset;
  h.srcPort = (buf[offset]! << 8) | buf[offset + 1]!;
  h.dstPort = (buf[offset + 2]! << 8) | buf[offset + 3]!;
  h.length = udpLength;
  h.checksum = checksum;
  h.payloadOffset = offset + UDP_HEADER_LENGTH;
  h.payloadLength = udpLength - UDP_HEADER_LENGTH;
  return h;
}

/**
 * True when the checksum field of the UDP datagram at `offset` holds only the folded pseudo-header
 * sum: what a capture shows for a packet whose checksum the kernel left to the NIC (checksum offload,
 * CHECKSUM_PARTIAL; also across veth pairs). Such a packet was not damaged: the sum over the data
 * was simply never added. Callers that read captures (not the data path) use this to tell the two
 * apart instead of counting offloaded packets as corrupt.
 */
export function isOffloadPartialUdpChecksum(buf: Uint8Array, offset: number, ipSrc: number, ipDst: number): boolean {
  if (offset < 0 || offset + UDP_HEADER_LENGTH > buf.length) return false;
  const udpLength = (buf[offset + 4]! << 8) | buf[offset + 5]!;
  const field = (buf[offset + 6]! << 8) | buf[offset + 7]!;
  return field === checksumFold(ipv4PseudoHeaderSum(ipSrc, ipDst, IPPROTO_UDP, udpLength));
}

/**
 * Writes a UDP header at `offset` for a payload of `payloadLength` bytes that the caller has
 * already placed at `offset + 8`. With `ipSrc`/`ipDst` the checksum is computed over the
 * pseudo-header, header and payload; without them it is left 0 ("not computed", IPv4 only).
 * Returns 8.
 */
export function writeUdpHeader(
  buf: Uint8Array,
  offset: number,
  srcPort: number,
  dstPort: number,
  payloadLength: number,
  ipSrc?: number,
  ipDst?: number,
): number {
  const udpLength = UDP_HEADER_LENGTH + payloadLength;
  if (!Number.isInteger(payloadLength) || payloadLength < 0 || udpLength > 0xffff) {
    throw new RangeError(`UDP length ${udpLength} does not fit 16 bits`);
  }
  if (offset < 0 || offset + udpLength > buf.length) throw new RangeError('UDP datagram does not fit the buffer');
  buf[offset] = (srcPort >>> 8) & 0xff;
  buf[offset + 1] = srcPort & 0xff;
  buf[offset + 2] = (dstPort >>> 8) & 0xff;
  buf[offset + 3] = dstPort & 0xff;
  buf[offset + 4] = udpLength >>> 8;
  buf[offset + 5] = udpLength & 0xff;
  buf[offset + 6] = 0;
  buf[offset + 7] = 0;
  if (ipSrc !== undefined && ipDst !== undefined) {
    let c = checksumFinish(checksumAdd(ipv4PseudoHeaderSum(ipSrc, ipDst, IPPROTO_UDP, udpLength), buf, offset, udpLength));
    if (c === 0) c = 0xffff; // RFC 768: a computed zero is transmitted as all ones
    buf[offset + 6] = c >>> 8;
    buf[offset + 7] = c & 0xff;
  }
  return UDP_HEADER_LENGTH;
}

/** Addressing of an IPv4+UDP packet to build. */
export interface Ipv4UdpFields extends Omit<Ipv4HeaderFields, 'protocol' | 'payloadLength'> {
  srcPort: number;
  dstPort: number;
  /** Default true: compute the UDP checksum. */
  udpChecksum?: boolean;
}

/**
 * Writes IPv4 (20 bytes, or more with options) and UDP headers in front of a payload of
 * `payloadLength` bytes that the caller has already placed at `offset + ipHeaderLength + 8`
 * (28 without IP options). Returns the total packet length.
 */
export function writeIpv4UdpHeaders(buf: Uint8Array, offset: number, f: Ipv4UdpFields, payloadLength: number): number {
  const ipHeaderLength = 20 + (f.options?.length ?? 0);
  const udpOffset = offset + ipHeaderLength;
  writeUdpHeader(buf, udpOffset, f.srcPort, f.dstPort, payloadLength, f.udpChecksum === false ? undefined : f.src, f.udpChecksum === false ? undefined : f.dst);
  writeIpv4Header(buf, offset, { ...f, protocol: IPPROTO_UDP, payloadLength: UDP_HEADER_LENGTH + payloadLength });
  return ipHeaderLength + UDP_HEADER_LENGTH + payloadLength;
}

/** Builds a fresh IPv4+UDP packet around `payload` (allocates; for tests and capture, not the data path). */
export function buildIpv4UdpPacket(f: Ipv4UdpFields, payload: Uint8Array): Buffer {
  const ipHeaderLength = 20 + (f.options?.length ?? 0);
  const out = Buffer.alloc(ipHeaderLength + UDP_HEADER_LENGTH + payload.length);
  out.set(payload, ipHeaderLength + UDP_HEADER_LENGTH);
  writeIpv4UdpHeaders(out, 0, f, payload.length);
  return out;
}
