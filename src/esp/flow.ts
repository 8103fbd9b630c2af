import { parseIpv4Header, type Ipv4Header } from '../wire/ipv4.js';
import { hasPorts } from '../wire/traffic-selector.js';

/** The 5-tuple of a packet as the SPD sees it. Ports are -1 when the protocol has none
 *  (or the packet is a non-first fragment): then only a selector with the full port range matches. */
export interface Flow {
  src: number;
  dst: number;
  protocol: number;
  srcPort: number;
  dstPort: number;
}

export function newFlow(): Flow {
  return { src: 0, dst: 0, protocol: 0, srcPort: -1, dstPort: -1 };
}

/**
 * Fills the SPD's view of an IPv4 packet (addresses, protocol, ports) using `header` as reusable
 * parse scratch. Returns false for anything that is not a plausible IPv4 packet within `length`
 * bytes. The header checksum is not verified: packets come from our own TUN (the kernel built
 * them) or out of an ESP packet whose ICV just verified.
 */
export function readIpv4Flow(pkt: Buffer, offset: number, length: number, flow: Flow, header: Ipv4Header): boolean {
  if (typeof parseIpv4Header(pkt, offset, length, false, header) === 'string') return false;
  flow.protocol = header.protocol;
  flow.src = header.src;
  flow.dst = header.dst;
  // Ports sit in the first fragment only (RFC 4301 §4.4.1.1: later fragments are OPAQUE).
  if (header.fragmentOffset === 0) readPayloadPorts(pkt, header.payloadOffset, header.payloadLength, header.protocol, flow);
  else flow.srcPort = flow.dstPort = -1;
  return true;
}

/** Ports of a transport payload (the bytes after an IP header), -1 when the protocol has none. */
export function readPayloadPorts(payload: Buffer, offset: number, length: number, protocol: number, flow: Flow): void {
  if (hasPorts(protocol) && length >= 4) {
    flow.srcPort = payload.readUInt16BE(offset);
    flow.dstPort = payload.readUInt16BE(offset + 2);
  } else {
    flow.srcPort = -1;
    flow.dstPort = -1;
  }
}
