/**
 * Traffic selectors (RFC 4301 §4.4.1, RFC 7296 §3.13.1): the one selector type the config files,
 * the IKE engine and the ESP data path share. IPv4 only, as the data path.
 *
 * - text: swanctl's forms — `dynamic` (the address of this end, filled in later), `10.1.0.0/24`,
 *   `10.1.0.5`, `10.1.0.5-10.1.0.9`, `%any`, each optionally followed by `[proto]` or
 *   `[proto/port]` (`udp`, `17`, a port, a range `1000-2000`, `%any`); no address means dynamic.
 *   Bad text is a TsSyntaxError saying what was expected, never a guess;
 * - the IKE TS payload entry (TS_IPV4_ADDR_RANGE);
 * - matching one end of a flow, narrowing (§2.9), and the forms status and logs print.
 */
import { cidrRange, formatIpv4, formatRange, parseCidr, parseIpv4, type AddressRange } from './address.js';

/** Addresses as unsigned 32-bit integers, inclusive ranges; protocol 0 = any; ports 0..65535 = any. */
export interface TrafficSelector {
  protocol: number;
  startAddr: number;
  endAddr: number;
  startPort: number;
  endPort: number;
}

/** A selector as configured: `dynamic` waits for the address of its end of the SA. */
export interface TsSpec {
  dynamic: boolean;
  /** For a dynamic selector, the protocol and ports; the addresses are filled in by resolveTs. */
  ts: TrafficSelector;
  /** The text as written, for messages and status. */
  text: string;
}

export class TsSyntaxError extends Error {
  constructor(readonly text: string, message: string) {
    super(message);
    this.name = 'TsSyntaxError';
  }
}

/** TS types of the IKE TS payload (RFC 7296 §3.13.1). */
export const TsType = { IPV4_ADDR_RANGE: 7, IPV6_ADDR_RANGE: 8 } as const;

/** One entry of an IKE TSi/TSr payload, addresses as raw bytes (4 or 16). */
export interface TsEntry {
  tsType: number;
  protocol: number;
  startPort: number;
  endPort: number;
  startAddr: Buffer;
  endAddr: Buffer;
}

const PROTOCOLS: Record<string, number> = { any: 0, '%any': 0, icmp: 1, tcp: 6, udp: 17, gre: 47, esp: 50, sctp: 132 };
const PROTOCOL_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 47: 'gre', 50: 'esp', 132: 'sctp' };
const PORT_PROTOCOLS = new Set([6, 17, 132, 136]); // TCP, UDP, SCTP, UDP-Lite

/** True for protocols whose first 4 payload bytes are source and destination ports (so selectors may name ports). */
export function hasPorts(protocol: number): boolean {
  return PORT_PROTOCOLS.has(protocol);
}

/** A selector covering everything: any protocol, any address, any port. */
export function anySelector(): TrafficSelector {
  return { protocol: 0, startAddr: 0, endAddr: 0xffffffff, startPort: 0, endPort: 65535 };
}

function parseAddresses(text: string, whole: string): AddressRange {
  const dash = text.indexOf('-');
  if (dash >= 0) {
    const start = parseIpv4(text.slice(0, dash));
    const end = parseIpv4(text.slice(dash + 1));
    if (start === null || end === null || start > end) {
      throw new TsSyntaxError(whole, `"${whole}": "${text}" is not an address range (expected e.g. 10.0.0.1-10.0.0.9, low end first)`);
    }
    return { start, end };
  }
  const c = parseCidr(text, { bareAddress: true });
  if (!c.ok) throw new TsSyntaxError(whole, c.canonical ? `${c.problem} (the network is ${c.canonical})` : c.problem);
  return cidrRange(c.cidr);
}

function parseProtocol(s: string, whole: string): number {
  const lower = s.toLowerCase();
  if (lower in PROTOCOLS) return PROTOCOLS[lower]!;
  if (/^(0|[1-9][0-9]{0,2})$/.test(s) && Number(s) <= 255) return Number(s);
  throw new TsSyntaxError(whole, `"${whole}": unknown protocol "${s}" (expected udp, tcp, icmp, any or a number 0-255)`);
}

function parsePorts(s: string, whole: string): [number, number] {
  if (s === '%any' || s === 'any' || s === '') return [0, 65535];
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(s);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
  if (!m || lo > 65535 || hi > 65535 || lo > hi) {
    throw new TsSyntaxError(whole, `"${whole}": bad port "${s}" (expected a port 0-65535, a range like 1000-2000, or %any)`);
  }
  return [lo, hi];
}

/** Parses one swanctl selector string. */
export function parseTs(text: string): TsSpec {
  const whole = text.trim();
  const m = /^([^[\]\s]*)(?:\[([^/\]]*)(?:\/([^\]]*))?\])?$/.exec(whole);
  if (!m) throw new TsSyntaxError(text, `"${text}" is not a traffic selector (expected dynamic, 10.0.0.0/24 or 10.0.0.0/24[udp/6081])`);
  const addr = m[1]!;
  const dynamic = addr === '' || addr === 'dynamic';
  const range = dynamic || addr === '%any' ? { start: 0, end: 0xffffffff } : parseAddresses(addr, whole);
  const protocol = m[2] === undefined ? 0 : parseProtocol(m[2], whole);
  const [startPort, endPort] = m[3] === undefined ? [0, 65535] : parsePorts(m[3], whole);
  if (!hasPorts(protocol) && (startPort !== 0 || endPort !== 65535)) {
    throw new TsSyntaxError(whole, `"${whole}": ports need a protocol that has them (udp, tcp or sctp)`);
  }
  return { dynamic, ts: { protocol, startAddr: range.start, endAddr: range.end, startPort, endPort }, text: whole };
}

/** The selectors with `dynamic` filled in by the address of their end (a number or dotted text). */
export function resolveTs(specs: readonly TsSpec[], host: number | string): TrafficSelector[] {
  const addr = typeof host === 'number' ? host : parseIpv4(host) ?? 0;
  return specs.map((s) => (s.dynamic ? { ...s.ts, startAddr: addr, endAddr: addr } : { ...s.ts }));
}

/** Does one end of a flow (protocol, address, port) fall inside a selector? Port -1 = the packet has none
 *  (or is a later fragment): then only a selector with the full port range matches. */
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

export function intersect(a: TrafficSelector, b: TrafficSelector): TrafficSelector | undefined {
  if (a.protocol !== 0 && b.protocol !== 0 && a.protocol !== b.protocol) return undefined;
  const r: TrafficSelector = {
    protocol: a.protocol || b.protocol,
    startAddr: Math.max(a.startAddr, b.startAddr),
    endAddr: Math.min(a.endAddr, b.endAddr),
    startPort: Math.max(a.startPort, b.startPort),
    endPort: Math.min(a.endPort, b.endPort),
  };
  if (r.startAddr > r.endAddr || r.startPort > r.endPort) return undefined;
  return r;
}

function same(a: TrafficSelector, b: TrafficSelector): boolean {
  return a.protocol === b.protocol && a.startAddr === b.startAddr && a.endAddr === b.endAddr && a.startPort === b.startPort && a.endPort === b.endPort;
}

/** Narrowing (§2.9): every non-empty intersection of ours with theirs, without duplicates. */
export function narrow(ours: readonly TrafficSelector[], theirs: readonly TrafficSelector[]): TrafficSelector[] {
  const out: TrafficSelector[] = [];
  for (const o of ours) {
    for (const t of theirs) {
      const r = intersect(o, t);
      if (r && !out.some((x) => same(x, r))) out.push(r);
    }
  }
  return out;
}

/** True when `inner` lies within `outer`. */
export function contains(outer: TrafficSelector, inner: TrafficSelector): boolean {
  const i = intersect(outer, inner);
  return i !== undefined && same(i, inner);
}

/** A non-empty answer whose every selector lies within one we offered. */
export function allWithin(answer: readonly TrafficSelector[], offered: readonly TrafficSelector[]): boolean {
  return answer.length > 0 && answer.every((a) => offered.some((o) => contains(o, a)));
}

export function toEntry(ts: TrafficSelector): TsEntry {
  const s = Buffer.alloc(4);
  const e = Buffer.alloc(4);
  s.writeUInt32BE(ts.startAddr >>> 0);
  e.writeUInt32BE(ts.endAddr >>> 0);
  return { tsType: TsType.IPV4_ADDR_RANGE, protocol: ts.protocol, startPort: ts.startPort, endPort: ts.endPort, startAddr: s, endAddr: e };
}

/** IPv4 entries only; IPv6 ones are dropped (we never offer them, so narrowing ignores them). */
export function fromEntries(entries: readonly TsEntry[]): TrafficSelector[] {
  return entries
    .filter((e) => e.tsType === TsType.IPV4_ADDR_RANGE)
    .map((e) => ({ protocol: e.protocol, startAddr: e.startAddr.readUInt32BE(0), endAddr: e.endAddr.readUInt32BE(0), startPort: e.startPort, endPort: e.endPort }));
}

/** swanctl's notation for status: "10.254.1.0/24", "10.0.0.1..10.0.0.9", with "[udp/6081]" when narrowed. */
export function formatTs(ts: TrafficSelector): string {
  const text = formatRange({ start: ts.startAddr, end: ts.endAddr });
  const anyPort = ts.startPort === 0 && ts.endPort === 65535;
  if (ts.protocol === 0 && anyPort) return text;
  const proto = PROTOCOL_NAMES[ts.protocol] ?? String(ts.protocol);
  if (anyPort) return `${text}[${proto}]`;
  const ports = ts.startPort === ts.endPort ? `${ts.startPort}` : `${ts.startPort}-${ts.endPort}`;
  return `${text}[${proto}/${ports}]`;
}

/** libreswan's log form: `192.168.7.11-192.168.7.11:6081-6081 17`. */
export function formatTsLibreswan(ts: TrafficSelector): string {
  return `${formatIpv4(ts.startAddr)}-${formatIpv4(ts.endAddr)}:${ts.startPort}-${ts.endPort} ${ts.protocol}`;
}

/** A selector for a CIDR block or address (e.g. "10.254.1.0/24"), optionally one protocol and port. */
export function cidrSelector(cidr: string, protocol = 0, port?: number): TrafficSelector {
  const c = parseCidr(cidr, { bareAddress: true, clearHostBits: true });
  if (!c.ok) throw new RangeError(`not an IPv4 CIDR: ${c.problem}`);
  const r = cidrRange(c.cidr);
  return { protocol, startAddr: r.start, endAddr: r.end, startPort: port ?? 0, endPort: port ?? 65535 };
}
