/**
 * IPv4 CIDR arithmetic for the network config and the subnet allocator.
 * Addresses are kept as unsigned 32-bit numbers; a CIDR is (base, prefix).
 */

export interface Cidr {
  readonly base: number;
  readonly prefix: number;
}

/** Why a string is not a CIDR, or the CIDR it is. `canonical` suggests the fix for set host bits. */
export type CidrParse =
  | { ok: true; cidr: Cidr }
  | { ok: false; problem: string; canonical?: string };

export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n >>> 0;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function parseCidr(text: unknown): CidrParse {
  if (typeof text !== 'string') return { ok: false, problem: `expected a CIDR string such as 10.128.0.0/14, got ${describe(text)}` };
  if (text.includes(':')) return { ok: false, problem: `"${text}" is IPv6; only IPv4 networks are supported` };
  const m = /^([^/]+)\/([0-9]{1,2})$/.exec(text.trim());
  if (!m) {
    return { ok: false, problem: `"${text}" is not a CIDR (expected address/prefix, e.g. 10.128.0.0/14)` };
  }
  const addr = parseIpv4(m[1]!);
  if (addr === undefined) return { ok: false, problem: `"${m[1]}" in "${text}" is not an IPv4 address` };
  const prefix = Number(m[2]);
  if (prefix > 32) return { ok: false, problem: `prefix /${prefix} in "${text}" is longer than 32` };
  const base = (addr & maskOf(prefix)) >>> 0;
  if (base !== addr) {
    const canonical = `${formatIpv4(base)}/${prefix}`;
    return { ok: false, problem: `"${text}" has host bits set`, canonical };
  }
  return { ok: true, cidr: { base, prefix } };
}

export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.base)}/${c.prefix}`;
}

export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  const m = maskOf(p);
  return ((a.base & m) >>> 0) === ((b.base & m) >>> 0);
}

export function contains(outer: Cidr, inner: Cidr): boolean {
  return outer.prefix <= inner.prefix && ((inner.base & maskOf(outer.prefix)) >>> 0) === outer.base;
}

/** The index-th /hostPrefix block inside `net` (index from 0). */
export function subnetAt(net: Cidr, hostPrefix: number, index: number): Cidr {
  return { base: (net.base + index * 2 ** (32 - hostPrefix)) >>> 0, prefix: hostPrefix };
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return quoteShort(v);
  return `${typeof v} ${String(v)}`;
}

/** A string from a config, quoted for a message and cut short: a wrong file can be one long scalar. */
export function quoteShort(text: string, max = 60): string {
  return text.length > max ? `"${text.slice(0, max)}…" (${text.length} characters)` : `"${text}"`;
}
