/**
 * IPv4 addresses, CIDR blocks and address ranges, as text and as numbers: the one parser the
 * config checks, the traffic selectors, the engines and the daemons all use.
 *
 * An address is an unsigned 32-bit number; a CIDR is (base, prefix) with the host bits clear; a
 * range is inclusive at both ends. Text is read strictly — a dotted quad, no leading zeros (010
 * is octal to inet_aton and decimal to others, so we refuse to guess), no shorthand — and bad text
 * is answered with a sentence saying what was expected, never an exception (except `cidrOf`, for
 * callers that want one).
 */
import { isIPv6 } from 'node:net';
import { describe } from '../util/describe.js';

export interface Cidr {
  readonly base: number;
  readonly prefix: number;
}

/** Addresses start..end, both included. */
export interface AddressRange {
  readonly start: number;
  readonly end: number;
}

/** The CIDR a text is, or why it is not one; `canonical` is the fix when only host bits are wrong. */
export type CidrParse =
  | { ok: true; cidr: Cidr }
  | { ok: false; problem: string; canonical?: string };

export interface CidrTextOptions {
  /** Accept a bare address as its /32 (selectors, routes); by default the prefix is required. */
  bareAddress?: boolean;
  /** Clear host bits instead of refusing them (10.0.0.1/24 → 10.0.0.0/24). */
  clearHostBits?: boolean;
}

/** A CIDR or address text that is not one (from `cidrOf`). */
export class AddressError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AddressError';
  }
}

/** A dotted-quad IPv4 address as a number; null when the text is not exactly one. */
export function parseIpv4(text: string): number | null {
  // Hand-rolled rather than split/regex: the UDP layer and the capture classifier call it per peer.
  let value = 0;
  let parts = 0;
  let i = 0;
  const n = text.length;
  while (parts < 4) {
    const start = i;
    let octet = 0;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57) break;
      octet = octet * 10 + (c - 48);
      i++;
    }
    const digits = i - start;
    if (digits === 0 || digits > 3 || octet > 255 || (digits > 1 && text.charCodeAt(start) === 48)) return null;
    value = value * 256 + octet;
    parts++;
    if (parts < 4) {
      if (text.charCodeAt(i) !== 46) return null;
      i++;
    }
  }
  return i === n ? value >>> 0 : null;
}

export function formatIpv4(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}

/** The netmask of a prefix length 0..32. */
export function prefixMask(prefix: number): number {
  return prefix <= 0 ? 0 : prefix >= 32 ? 0xffffffff : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Reads "a.b.c.d/n" (or, with `bareAddress`, "a.b.c.d" as /32); any other value is a problem too. */
export function parseCidr(text: unknown, opts: CidrTextOptions = {}): CidrParse {
  if (typeof text !== 'string') return { ok: false, problem: `expected a CIDR string such as 10.128.0.0/14, got ${describe(text)}` };
  const t = text.trim();
  if (t.includes(':')) return { ok: false, problem: `"${text}" is IPv6; only IPv4 networks are supported` };
  const m = /^([^/]+)(?:\/(0|[1-9][0-9]?))?$/.exec(t);
  if (!m || (m[2] === undefined && !opts.bareAddress)) {
    const e = opts.bareAddress ? 'an address or address/prefix, e.g. 10.128.0.0/14 or 10.128.0.1' : 'address/prefix, e.g. 10.128.0.0/14';
    return { ok: false, problem: `"${text}" is not a CIDR (expected ${e})` };
  }
  const addr = parseIpv4(m[1]!);
  if (addr === null) return { ok: false, problem: `"${m[1]}"${m[2] === undefined ? '' : ` in "${text}"`} is not an IPv4 address` };
  const prefix = m[2] === undefined ? 32 : Number(m[2]);
  if (prefix > 32) return { ok: false, problem: `prefix /${prefix} in "${text}" is longer than 32` };
  const base = (addr & prefixMask(prefix)) >>> 0;
  if (base !== addr && !opts.clearHostBits) {
    return { ok: false, problem: `"${text}" has host bits set`, canonical: formatCidr({ base, prefix }) };
  }
  return { ok: true, cidr: { base, prefix } };
}

/** `parseCidr` for callers that treat bad text as an error: throws AddressError naming the network meant. */
export function cidrOf(text: string, opts: CidrTextOptions = {}): Cidr {
  const r = parseCidr(text, opts);
  if (r.ok) return r.cidr;
  throw new AddressError(r.canonical ? `${r.problem} (the network is ${r.canonical})` : r.problem);
}

export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.base)}/${c.prefix}`;
}

/** How many addresses the block holds. */
export function cidrSize(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function cidrRange(c: Cidr): AddressRange {
  return { start: c.base, end: (c.base | ~prefixMask(c.prefix)) >>> 0 };
}

/** True when `addr` lies inside the block. */
export function cidrHasAddress(c: Cidr, addr: number): boolean {
  return ((addr & prefixMask(c.prefix)) >>> 0) === c.base;
}

/** True when `inner` lies inside `outer` (equal counts). */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return outer.prefix <= inner.prefix && cidrHasAddress(outer, inner.base);
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const m = prefixMask(Math.min(a.prefix, b.prefix));
  return ((a.base & m) >>> 0) === ((b.base & m) >>> 0);
}

/** The index-th /hostPrefix block inside `net` (index from 0). */
export function subnetAt(net: Cidr, hostPrefix: number, index: number): Cidr {
  return { base: (net.base + index * 2 ** (32 - hostPrefix)) >>> 0, prefix: hostPrefix };
}

/** The range as one CIDR block when it is exactly one, else null. */
export function rangeAsCidr(r: AddressRange): Cidr | null {
  const size = r.end - r.start + 1;
  if (size <= 0 || !Number.isInteger(Math.log2(size)) || r.start % size !== 0) return null;
  return { base: r.start, prefix: 32 - Math.log2(size) };
}

/** The fewest CIDR blocks that cover the range exactly (e.g. for routes). */
export function rangeToCidrs(r: AddressRange): Cidr[] {
  const out: Cidr[] = [];
  let cur = r.start;
  while (cur <= r.end) {
    // The largest block aligned at `cur` that stays inside the range.
    let size = 1;
    while (size < 2 ** 32 && cur % (size * 2) === 0 && cur + size * 2 - 1 <= r.end) size *= 2;
    out.push({ base: cur, prefix: 32 - Math.log2(size) });
    cur += size;
    if (cur > 0xffffffff) break;
  }
  return out;
}

/** swanctl's notation: "10.254.1.0/24" for a block, "10.0.0.1..10.0.0.9" otherwise. */
export function formatRange(r: AddressRange): string {
  const c = rangeAsCidr(r);
  return c ? formatCidr(c) : `${formatIpv4(r.start)}..${formatIpv4(r.end)}`;
}

/**
 * An IPv4 or IPv6 address in text as its network-order bytes (IKE ID payloads, NAT-D and cookie
 * hashes, certificate SANs); null when the text is neither.
 */
export function addressBytes(text: string): Buffer | null {
  const v4 = parseIpv4(text);
  if (v4 !== null) {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(v4);
    return out;
  }
  return isIPv6(text) ? ipv6Bytes(text) : null;
}

function ipv6Bytes(s: string): Buffer {
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16) || 0, i * 2));
  return out;
}
