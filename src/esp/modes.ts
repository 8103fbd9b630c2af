import { IPV4_MIN_HEADER_LENGTH, writeIpv4Header } from '../wire/ipv4.js';
import { readPayloadPorts } from './flow.js';
import type { Flow } from './flow.js';

/**
 * What differs between the two ESP modes on receipt (RFC 4303 §3.1):
 * - tunnel: the ESP payload is a whole inner IPv4 packet (next header 4), delivered as is;
 * - transport: the ESP payload is the IP payload of a packet between the two SA endpoints; the
 *   receiver rebuilds the IPv4 header from the SA (source = peer, destination = us, protocol =
 *   next header). The inner UDP/TCP checksum stays valid because the addresses are the same ones
 *   the sender's pseudo-header used.
 */

/** Room left in front of a decrypted transport-mode payload for the rebuilt header. */
export const TRANSPORT_HEADER_LENGTH = IPV4_MIN_HEADER_LENGTH;
/** TTL of a rebuilt transport-mode header: a fresh packet leaving the decapsulating host. */
export const TRANSPORT_TTL = 64;
/** Largest ESP packet one UDP datagram over IPv4 carries: 65535 - 20 (IPv4) - 8 (UDP). */
export const MAX_UDP_PAYLOAD = 65535 - 20 - 8;

/** Writes the rebuilt IPv4 header (with checksum) for a transport-mode payload. */
export function writeTransportHeader(buf: Buffer, offset: number, src: number, dst: number, protocol: number, totalLength: number): void {
  writeIpv4Header(buf, offset, { src, dst, protocol, payloadLength: totalLength - TRANSPORT_HEADER_LENGTH, ttl: TRANSPORT_TTL });
}

/** The flow a transport-mode payload will have once its header is rebuilt, for the policy check. */
export function transportInboundFlow(src: number, dst: number, protocol: number, payload: Buffer, offset: number, length: number, flow: Flow): void {
  flow.src = src;
  flow.dst = dst;
  flow.protocol = protocol;
  readPayloadPorts(payload, offset, length, protocol, flow);
}
