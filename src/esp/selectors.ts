import { cidrRange, formatRange, parseCidr } from '../wire/address.js';
import type { TrafficSelector } from './types.js';

/**
 * Traffic selectors (RFC 4301 §4.4.1, RFC 7296 §3.13.1) over IPv4 flows: matching and the
 * swanctl-style text form used in status output.
 */

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

const PORT_PROTOCOLS = new Set([6, 17, 132, 136]); // TCP, UDP, SCTP, UDP-Lite

/** True for protocols whose first 4 payload bytes are source and destination ports. */
export function hasPorts(protocol: number): boolean {
  return PORT_PROTOCOLS.has(protocol);
}

/** Does one end of a flow (address, port, protocol) fall inside a selector? */
export function selectorMatches(ts: TrafficSelector, protocol: number, addr: number, port: number): boolean {
  if (ts.protocol !== 0 && ts.protocol !== protocol) return false;
  if (addr < ts.startAddr || addr > ts.endAddr) return false;
  if (port < 0) return ts.startPort === 0 && ts.endPort === 65535;
  return port >= ts.startPort && port <= ts.endPort;
}

/** Does any selector of the list cover this end of the flow? */
export function anySelectorMatches(list: readonly TrafficSelector[], protocol: number, addr: number, port: number): boolean {
  for (let i = 0; i < list.length; i++) {
    if (selectorMatches(list[i]!, protocol, addr, port)) return true;
  }
  return false;
}

/** A selector covering everything: any protocol, any address, any port. */
export function anySelector(): TrafficSelector {
  return { protocol: 0, startAddr: 0, endAddr: 0xffffffff, startPort: 0, endPort: 65535 };
}

/** A selector for a CIDR block (e.g. "10.254.1.0/24"), optionally one protocol and port. */
export function cidrSelector(cidr: string, protocol = 0, port?: number): TrafficSelector {
  const c = parseCidr(cidr, { bareAddress: true, clearHostBits: true });
  if (!c.ok) throw new RangeError(`not an IPv4 CIDR: ${c.problem}`);
  const r = cidrRange(c.cidr);
  return { protocol, startAddr: r.start, endAddr: r.end, startPort: port ?? 0, endPort: port ?? 65535 };
}

const PROTOCOL_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 47: 'gre', 50: 'esp', 132: 'sctp' };

/** swanctl's notation: "10.254.1.0/24", "10.0.0.1..10.0.0.9", with "[udp/6081]" when narrowed. */
export function formatSelector(ts: TrafficSelector): string {
  const text = formatRange({ start: ts.startAddr, end: ts.endAddr });
  const anyPort = ts.startPort === 0 && ts.endPort === 65535;
  if (ts.protocol === 0 && anyPort) return text;
  const proto = PROTOCOL_NAMES[ts.protocol] ?? String(ts.protocol);
  if (anyPort) return `${text}[${proto}]`;
  const ports = ts.startPort === ts.endPort ? `${ts.startPort}` : `${ts.startPort}-${ts.endPort}`;
  return `${text}[${proto}/${ports}]`;
}
