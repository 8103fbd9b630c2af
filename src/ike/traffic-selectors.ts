import { cidrRange, formatIpv4, parseCidr, parseIpv4 } from '../wire/address.js';
import type { TrafficSelector } from '../esp/types.js';
import { TsType } from './constants.js';
import type { TsEntry } from './message/payloads.js';

/**
 * Traffic selectors in swanctl forms — `dynamic`, `dynamic[udp/6081]`, `10.1.0.0/24`,
 * `10.1.0.0/24[udp/6081]`, `10.0.0.1`, `[tcp/1000-2000]` — and RFC 7296 §2.9 narrowing.
 * IPv4 only, as the ESP data path (src/esp/types.ts TrafficSelector).
 */
export interface TsSpec {
  /** `dynamic`: the address of this end of the IKE SA, filled in when the SA is set up. */
  dynamic: boolean;
  ts: TrafficSelector;
}

export class TsSyntaxError extends Error {
  constructor(readonly text: string, message: string) {
    super(message);
    this.name = 'TsSyntaxError';
  }
}

const PROTOCOLS: Record<string, number> = { any: 0, '%any': 0, icmp: 1, tcp: 6, udp: 17, sctp: 132 };

export function parseTs(text: string): TsSpec {
  const m = /^\s*([^[\s]*)\s*(?:\[([^\]]*)\])?\s*$/.exec(text);
  if (!m) throw new TsSyntaxError(text, `traffic selector "${text}" is not of the form ADDR[/PREFIX][PROTO/PORT]`);
  const addr = m[1]!;
  const ts: TrafficSelector = { protocol: 0, startAddr: 0, endAddr: 0xffffffff, startPort: 0, endPort: 65535 };
  let dynamic = false;
  if (addr === 'dynamic') dynamic = true;
  else if (addr === '' || addr === '0.0.0.0/0' || addr === '%any') { /* any address */ }
  else {
    const c = parseCidr(addr, { bareAddress: true, clearHostBits: true });
    if (!c.ok) throw new TsSyntaxError(text, `traffic selector "${text}": ${c.problem}`);
    const r = cidrRange(c.cidr);
    ts.startAddr = r.start;
    ts.endAddr = r.end;
  }
  if (m[2] !== undefined) {
    const [protoText, portText] = m[2].split('/');
    const proto = protoText === undefined || protoText === '' ? 0 : PROTOCOLS[protoText.toLowerCase()] ?? Number(protoText);
    if (!Number.isInteger(proto) || proto < 0 || proto > 255) throw new TsSyntaxError(text, `traffic selector "${text}": unknown protocol "${protoText}"`);
    ts.protocol = proto;
    if (portText !== undefined && portText !== '' && portText !== '%any' && portText !== 'any') {
      const [a, b] = portText.split('-');
      const s = Number(a);
      const e = b === undefined ? s : Number(b);
      if (!Number.isInteger(s) || !Number.isInteger(e) || s < 0 || e > 65535 || s > e) throw new TsSyntaxError(text, `traffic selector "${text}": bad port "${portText}"`);
      ts.startPort = s;
      ts.endPort = e;
    }
  }
  return { dynamic, ts };
}

/** Resolves `dynamic` to the given host address. */
export function resolveTs(specs: readonly TsSpec[], hostAddress: string): TrafficSelector[] {
  return specs.map((s) => {
    if (!s.dynamic) return { ...s.ts };
    const a = parseIpv4(hostAddress) ?? 0;
    return { ...s.ts, startAddr: a, endAddr: a };
  });
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

/** libreswan's form: `192.168.7.11-192.168.7.11:6081-6081 17`. */
export function formatTs(ts: TrafficSelector): string {
  return `${formatIpv4(ts.startAddr)}-${formatIpv4(ts.endAddr)}:${ts.startPort}-${ts.endPort} ${ts.protocol}`;
}

/** Compact CIDR-ish form for status: `10.1.0.0/24[udp/6081]`. */
export function tsToString(ts: TrafficSelector): string {
  let addr: string;
  const size = ts.endAddr - ts.startAddr + 1;
  const prefix = 32 - Math.log2(size);
  if (Number.isInteger(prefix) && (ts.startAddr & (size - 1)) === 0) addr = `${formatIpv4(ts.startAddr)}/${prefix}`;
  else addr = `${formatIpv4(ts.startAddr)}..${formatIpv4(ts.endAddr)}`;
  const proto = ts.protocol === 0 ? '' : (Object.entries(PROTOCOLS).find(([k, v]) => v === ts.protocol && k !== '%any')?.[0] ?? String(ts.protocol));
  const port = ts.startPort === 0 && ts.endPort === 65535 ? '' : ts.startPort === ts.endPort ? `/${ts.startPort}` : `/${ts.startPort}-${ts.endPort}`;
  return proto || port ? `${addr}[${proto}${port}]` : addr;
}
