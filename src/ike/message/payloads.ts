import { ATTR_KEY_LENGTH, Notify, PayloadType, TsType } from '../constants.js';
import type { TsEntry } from '../../wire/traffic-selector.js';
import { fail, ok, type Parsed } from './result.js';

/** One transform of a proposal (§3.3.2); keyLength is the Key Length attribute when present. */
export interface Transform {
  type: number;
  id: number;
  keyLength?: number;
}

/** One proposal of an SA payload (§3.3.1). */
export interface Proposal {
  num: number;
  protocolId: number;
  spi: Buffer;
  transforms: Transform[];
}

export type { TsEntry };

export type Payload =
  | { type: typeof PayloadType.SA; critical?: boolean; proposals: Proposal[] }
  | { type: typeof PayloadType.KE; critical?: boolean; group: number; data: Buffer }
  /** `reserved`: the 3 RESERVED bytes when a peer sent them non-zero (they are in the AUTH octets, §2.15). */
  | { type: typeof PayloadType.IDi | typeof PayloadType.IDr; critical?: boolean; idType: number; data: Buffer; reserved?: Buffer }
  | { type: typeof PayloadType.CERT | typeof PayloadType.CERTREQ; critical?: boolean; encoding: number; data: Buffer }
  | { type: typeof PayloadType.AUTH; critical?: boolean; method: number; data: Buffer }
  | { type: typeof PayloadType.NONCE; critical?: boolean; data: Buffer }
  | { type: typeof PayloadType.NOTIFY; critical?: boolean; protocolId: number; spi: Buffer; notifyType: number; data: Buffer }
  | { type: typeof PayloadType.DELETE; critical?: boolean; protocolId: number; spiSize: number; spis: Buffer[] }
  | { type: typeof PayloadType.VENDOR; critical?: boolean; data: Buffer }
  | { type: typeof PayloadType.TSi | typeof PayloadType.TSr; critical?: boolean; selectors: TsEntry[] }
  /** A payload we keep as opaque bytes (CP, EAP, or an unknown non-critical type we skipped). */
  | { type: number & {}; critical?: boolean; raw: Buffer; unknown: true };

type KnownPayload = Exclude<Payload, { unknown: true }>;
/** The payload variant(s) with type T (IDi and IDr share one shape, as do TSi/TSr and CERT/CERTREQ). */
export type PayloadOf<T extends number> = KnownPayload extends infer P ? (P extends { type: infer U } ? (T extends U ? P : never) : never) : never;

/** Payload types whose bodies this codec understands. */
export const KNOWN_PAYLOADS: ReadonlySet<number> = new Set([
  PayloadType.SA, PayloadType.KE, PayloadType.IDi, PayloadType.IDr, PayloadType.CERT, PayloadType.CERTREQ,
  PayloadType.AUTH, PayloadType.NONCE, PayloadType.NOTIFY, PayloadType.DELETE, PayloadType.VENDOR,
  PayloadType.TSi, PayloadType.TSr, PayloadType.CP, PayloadType.EAP,
]);

const syntax = (detail: string): Parsed<never> => fail('bad-value', detail, { notify: Notify.INVALID_SYNTAX });

// ---------- SA ----------

function decodeTransform(b: Buffer): Parsed<Transform> {
  // b is the whole transform substructure
  const type = b[4]!;
  const id = b.readUInt16BE(6);
  const t: Transform = { type, id };
  let off = 8;
  while (off < b.length) {
    if (off + 4 > b.length) return syntax('truncated transform attribute');
    const af = b.readUInt16BE(off);
    const attrType = af & 0x7fff;
    if (af & 0x8000) {
      const v = b.readUInt16BE(off + 2);
      if (attrType === ATTR_KEY_LENGTH) t.keyLength = v;
      off += 4;
    } else {
      const len = b.readUInt16BE(off + 2);
      if (off + 4 + len > b.length) return syntax('truncated TLV transform attribute');
      off += 4 + len;
    }
  }
  return ok(t);
}

function decodeSa(body: Buffer): Parsed<Proposal[]> {
  const proposals: Proposal[] = [];
  let off = 0;
  let last = 2;
  while (off < body.length) {
    if (last !== 2) return syntax('proposal after the last one');
    if (off + 8 > body.length) return syntax('truncated proposal');
    last = body[off]!;
    const plen = body.readUInt16BE(off + 2);
    if (plen < 8 || off + plen > body.length) return syntax(`bad proposal length ${plen}`);
    if (last !== 0 && last !== 2) return syntax(`bad proposal "last substruc" ${last}`);
    const p = body.subarray(off, off + plen);
    const num = p[4]!;
    const protocolId = p[5]!;
    const spiSize = p[6]!;
    const nTransforms = p[7]!;
    if (8 + spiSize > plen) return syntax('proposal SPI overruns proposal');
    const spi = Buffer.from(p.subarray(8, 8 + spiSize));
    const transforms: Transform[] = [];
    let toff = 8 + spiSize;
    let tlast = 3;
    for (let i = 0; i < nTransforms; i++) {
      if (tlast !== 3) return syntax('transform after the last one');
      if (toff + 8 > plen) return syntax('truncated transform');
      tlast = p[toff]!;
      const tlen = p.readUInt16BE(toff + 2);
      if (tlen < 8 || toff + tlen > plen) return syntax(`bad transform length ${tlen}`);
      const t = decodeTransform(p.subarray(toff, toff + tlen));
      if (!t.ok) return t;
      transforms.push(t.value);
      toff += tlen;
    }
    if (toff !== plen) return syntax('proposal length does not match its transforms');
    proposals.push({ num, protocolId, spi, transforms });
    off += plen;
  }
  if (last !== 0) return syntax('SA payload ends without a last proposal');
  return ok(proposals);
}

function encodeSa(proposals: Proposal[]): Buffer {
  const parts: Buffer[] = [];
  proposals.forEach((p, pi) => {
    const tparts = p.transforms.map((t, ti) => {
      const attrs = t.keyLength !== undefined ? Buffer.from([0x80, ATTR_KEY_LENGTH, t.keyLength >> 8, t.keyLength & 0xff]) : Buffer.alloc(0);
      const h = Buffer.alloc(8);
      h[0] = ti === p.transforms.length - 1 ? 0 : 3;
      h.writeUInt16BE(8 + attrs.length, 2);
      h[4] = t.type;
      h.writeUInt16BE(t.id, 6);
      return Buffer.concat([h, attrs]);
    });
    const h = Buffer.alloc(8);
    h[0] = pi === proposals.length - 1 ? 0 : 2;
    const len = 8 + p.spi.length + tparts.reduce((n, b) => n + b.length, 0);
    h.writeUInt16BE(len, 2);
    h[4] = p.num;
    h[5] = p.protocolId;
    h[6] = p.spi.length;
    h[7] = p.transforms.length;
    parts.push(h, p.spi, ...tparts);
  });
  return Buffer.concat(parts);
}

// ---------- TS ----------

function decodeTs(body: Buffer): Parsed<TsEntry[]> {
  if (body.length < 4) return syntax('truncated TS payload');
  const n = body[0]!;
  const out: TsEntry[] = [];
  let off = 4;
  for (let i = 0; i < n; i++) {
    if (off + 8 > body.length) return syntax('truncated traffic selector');
    const tsType = body[off]!;
    const len = body.readUInt16BE(off + 2);
    const alen = tsType === TsType.IPV4_ADDR_RANGE ? 4 : tsType === TsType.IPV6_ADDR_RANGE ? 16 : -1;
    if (alen < 0) return syntax(`unknown traffic selector type ${tsType}`);
    if (len !== 8 + 2 * alen || off + len > body.length) return syntax(`bad traffic selector length ${len}`);
    out.push({
      tsType,
      protocol: body[off + 1]!,
      startPort: body.readUInt16BE(off + 4),
      endPort: body.readUInt16BE(off + 6),
      startAddr: Buffer.from(body.subarray(off + 8, off + 8 + alen)),
      endAddr: Buffer.from(body.subarray(off + 8 + alen, off + 8 + 2 * alen)),
    });
    off += len;
  }
  if (off !== body.length) return syntax('TS payload length does not match its selectors');
  return ok(out);
}

function encodeTs(sel: TsEntry[]): Buffer {
  const parts: Buffer[] = [Buffer.from([sel.length, 0, 0, 0])];
  for (const s of sel) {
    const h = Buffer.alloc(8);
    h[0] = s.tsType;
    h[1] = s.protocol;
    h.writeUInt16BE(8 + s.startAddr.length * 2, 2);
    h.writeUInt16BE(s.startPort, 4);
    h.writeUInt16BE(s.endPort, 6);
    parts.push(h, s.startAddr, s.endAddr);
  }
  return Buffer.concat(parts);
}

// ---------- bodies ----------

/** Decodes the body of a payload (what follows the 4-byte generic header). */
export function decodeBody(type: number, critical: boolean, body: Buffer): Parsed<Payload> {
  const need = (n: number, what: string): Parsed<never> | null => (body.length < n ? syntax(`truncated ${what} payload`) : null);
  switch (type) {
    case PayloadType.SA: {
      const r = decodeSa(body);
      return r.ok ? ok({ type, critical, proposals: r.value }) : r;
    }
    case PayloadType.KE:
      return need(4, 'KE') ?? ok({ type, critical, group: body.readUInt16BE(0), data: Buffer.from(body.subarray(4)) });
    case PayloadType.IDi:
    case PayloadType.IDr:
      return need(4, 'ID') ?? ok({
        type, critical, idType: body[0]!, data: Buffer.from(body.subarray(4)),
        ...(body[1] || body[2] || body[3] ? { reserved: Buffer.from(body.subarray(1, 4)) } : {}),
      });
    case PayloadType.CERT:
    case PayloadType.CERTREQ:
      return need(1, 'CERT') ?? ok({ type, critical, encoding: body[0]!, data: Buffer.from(body.subarray(1)) });
    case PayloadType.AUTH:
      return need(4, 'AUTH') ?? ok({ type, critical, method: body[0]!, data: Buffer.from(body.subarray(4)) });
    case PayloadType.NONCE:
      if (body.length < 16 || body.length > 256) return syntax(`nonce of ${body.length} bytes (16..256 allowed)`);
      return ok({ type, critical, data: Buffer.from(body) });
    case PayloadType.NOTIFY: {
      const bad = need(4, 'Notify');
      if (bad) return bad;
      const spiSize = body[1]!;
      if (4 + spiSize > body.length) return syntax('Notify SPI overruns payload');
      return ok({
        type, critical,
        protocolId: body[0]!,
        spi: Buffer.from(body.subarray(4, 4 + spiSize)),
        notifyType: body.readUInt16BE(2),
        data: Buffer.from(body.subarray(4 + spiSize)),
      });
    }
    case PayloadType.DELETE: {
      const bad = need(4, 'Delete');
      if (bad) return bad;
      const protocolId = body[0]!;
      const spiSize = body[1]!;
      const n = body.readUInt16BE(2);
      if (body.length !== 4 + spiSize * n) return syntax('Delete payload length does not match its SPIs');
      const spis: Buffer[] = [];
      for (let i = 0; i < n; i++) spis.push(Buffer.from(body.subarray(4 + i * spiSize, 4 + (i + 1) * spiSize)));
      return ok({ type, critical, protocolId, spiSize, spis });
    }
    case PayloadType.VENDOR:
      return ok({ type, critical, data: Buffer.from(body) });
    case PayloadType.TSi:
    case PayloadType.TSr: {
      const r = decodeTs(body);
      return r.ok ? ok({ type, critical, selectors: r.value }) : r;
    }
    default:
      return ok({ type, critical, raw: Buffer.from(body), unknown: true } as Payload);
  }
}

/** Encodes a payload's body (without the generic header). */
export function encodeBody(p: Payload): Buffer {
  if ('unknown' in p) return p.raw;
  switch (p.type) {
    case PayloadType.SA:
      return encodeSa(p.proposals);
    case PayloadType.KE: {
      const h = Buffer.alloc(4);
      h.writeUInt16BE(p.group, 0);
      return Buffer.concat([h, p.data]);
    }
    case PayloadType.IDi:
    case PayloadType.IDr:
      return Buffer.concat([Buffer.from([p.idType, 0, 0, 0]), p.data]);
    case PayloadType.CERT:
    case PayloadType.CERTREQ:
      return Buffer.concat([Buffer.from([p.encoding]), p.data]);
    case PayloadType.AUTH:
      return Buffer.concat([Buffer.from([p.method, 0, 0, 0]), p.data]);
    case PayloadType.NONCE:
    case PayloadType.VENDOR:
      return p.data;
    case PayloadType.NOTIFY: {
      const h = Buffer.alloc(4);
      h[0] = p.protocolId;
      h[1] = p.spi.length;
      h.writeUInt16BE(p.notifyType, 2);
      return Buffer.concat([h, p.spi, p.data]);
    }
    case PayloadType.DELETE: {
      const h = Buffer.alloc(4);
      h[0] = p.protocolId;
      h[1] = p.spiSize;
      h.writeUInt16BE(p.spis.length, 2);
      return Buffer.concat([h, ...p.spis]);
    }
    case PayloadType.TSi:
    case PayloadType.TSr:
      return encodeTs(p.selectors);
  }
  throw new Error(`cannot encode payload type ${(p as { type: number }).type}`);
}

// ---------- convenience constructors ----------

export function notify(notifyType: number, data: Buffer = Buffer.alloc(0), protocolId = 0, spi: Buffer = Buffer.alloc(0)): Payload {
  return { type: PayloadType.NOTIFY, protocolId, spi, notifyType, data };
}

export function findNotify(payloads: readonly Payload[], notifyType: number): PayloadOf<typeof PayloadType.NOTIFY> | undefined {
  return payloads.find((p): p is PayloadOf<typeof PayloadType.NOTIFY> => p.type === PayloadType.NOTIFY && 'notifyType' in p && p.notifyType === notifyType);
}

export function notifies(payloads: readonly Payload[]): PayloadOf<typeof PayloadType.NOTIFY>[] {
  return payloads.filter((p): p is PayloadOf<typeof PayloadType.NOTIFY> => p.type === PayloadType.NOTIFY && 'notifyType' in p);
}

export function findPayload<T extends number>(payloads: readonly Payload[], type: T): PayloadOf<T> | undefined {
  return payloads.find((p) => p.type === type && !('unknown' in p)) as PayloadOf<T> | undefined;
}

export function findPayloads<T extends number>(payloads: readonly Payload[], type: T): PayloadOf<T>[] {
  return payloads.filter((p) => p.type === type && !('unknown' in p)) as PayloadOf<T>[];
}
