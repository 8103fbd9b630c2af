/**
 * swanctl traffic-selector strings as the config file writes them:
 *   dynamic                  the connection's own address (local_addrs / remote_addrs)
 *   10.0.0.0/24, 10.0.0.1    a subnet or one host
 *   10.0.0.0/24[udp/6081]    plus a protocol and a port (or range 1000-2000, or %any)
 *   dynamic[udp], [17/6081]  protocol by name or number; a missing address means dynamic
 * An unparsable string is reported with the form expected, never guessed at.
 */

import type { TrafficSelector } from '../esp/types.js';
import { cidrOf, cidrRange, formatIpv4, type Cidr } from '../wire/address.js';

export type { TrafficSelector };

/** A parsed selector whose address may still be "the connection's own address". */
export interface TsSpec {
  /** null means `dynamic`: filled in from local_addrs / remote_addrs. */
  cidr: Cidr | null;
  protocol: number;
  startPort: number;
  endPort: number;
  /** The text as written, for messages and status output. */
  text: string;
}

const PROTOCOLS: Record<string, number> = { any: 0, icmp: 1, tcp: 6, udp: 17, gre: 47, esp: 50, sctp: 132 };

function parsePorts(s: string, text: string): [number, number] {
  if (s === '%any' || s === 'any' || s === '') return [0, 65535];
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(s);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
  if (!m || lo > 65535 || hi > 65535 || lo > hi) {
    throw new Error(`"${text}": bad port "${s}" (expected a port 0-65535, a range like 1000-2000, or %any)`);
  }
  return [lo, hi];
}

function parseProtocol(s: string, text: string): number {
  const lower = s.toLowerCase();
  if (lower in PROTOCOLS) return PROTOCOLS[lower]!;
  if (/^\d{1,3}$/.test(s) && Number(s) <= 255) return Number(s);
  throw new Error(`"${text}": unknown protocol "${s}" (expected udp, tcp, icmp, any or a number 0-255)`);
}

/** Parses one swanctl selector string. */
export function parseTs(text: string): TsSpec {
  const m = /^([^[\]]*)(?:\[([^/\]]*)(?:\/([^\]]*))?\])?$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a traffic selector (expected dynamic, 10.0.0.0/24 or 10.0.0.0/24[udp/6081])`);
  const addrPart = m[1]!.trim();
  const cidr = addrPart === '' || addrPart === 'dynamic' ? null : cidrOf(addrPart, { bareAddress: true });
  const protocol = m[2] === undefined ? 0 : parseProtocol(m[2], text);
  const [startPort, endPort] = m[3] === undefined ? [0, 65535] : parsePorts(m[3], text);
  if (protocol !== 6 && protocol !== 17 && protocol !== 132 && (startPort !== 0 || endPort !== 65535)) {
    throw new Error(`"${text}": ports need a protocol that has them (udp, tcp or sctp)`);
  }
  return { cidr, protocol, startPort, endPort, text: text.trim() };
}

/** Fills in `dynamic` with the host's own address and gives the address range form. */
export function resolveTs(spec: TsSpec, hostAddr: number): TrafficSelector {
  const r = cidrRange(spec.cidr ?? { base: hostAddr, prefix: 32 });
  return {
    protocol: spec.protocol,
    startAddr: r.start,
    endAddr: r.end,
    startPort: spec.startPort,
    endPort: spec.endPort,
  };
}

/** The selector back as CIDR text (with [proto/port] when narrowed), for routes and status. */
export function formatTs(ts: TrafficSelector): string {
  const size = ts.endAddr - ts.startAddr + 1;
  const bits = Math.log2(size);
  let s = Number.isInteger(bits) && ts.startAddr % size === 0
    ? `${formatIpv4(ts.startAddr)}/${32 - bits}`
    : `${formatIpv4(ts.startAddr)}-${formatIpv4(ts.endAddr)}`;
  const anyPort = ts.startPort === 0 && ts.endPort === 65535;
  if (ts.protocol !== 0 || !anyPort) {
    const proto = Object.entries(PROTOCOLS).find(([, n]) => n === ts.protocol)?.[0] ?? String(ts.protocol);
    const port = anyPort ? '' : ts.startPort === ts.endPort ? `/${ts.startPort}` : `/${ts.startPort}-${ts.endPort}`;
    s += `[${proto}${port}]`;
  }
  return s;
}
