import { GENERIC_HEADER_LENGTH, Notify, PayloadType } from '../constants.js';
import { decodeBody, encodeBody, KNOWN_PAYLOADS, type Payload } from './payloads.js';
import { fail, ok, type Parsed } from './result.js';

/** Where an encrypted payload (SK or SKF) sits in the datagram; it is always the last payload. */
export interface EncryptedPayloadRef {
  type: typeof PayloadType.SK | typeof PayloadType.SKF;
  /** The SK/SKF payload's own "next payload": the type of the first inner payload (0 in SKF fragments after the first). */
  innerFirst: number;
  /** Offset of the SK/SKF generic header in the buffer. */
  offset: number;
  /** End of the SK/SKF payload (exclusive). */
  end: number;
}

export interface DecodedChain {
  payloads: Payload[];
  encrypted?: EncryptedPayloadRef;
}

/**
 * Walks a chain of generic payloads in buf[start, end). Unknown payloads without the critical bit are
 * kept as opaque `unknown` entries (ignored by the tasks); unknown critical ones fail with
 * UNSUPPORTED_CRITICAL_PAYLOAD (§2.5). An SK or SKF payload ends the chain (§3.14).
 */
export function decodeChain(buf: Buffer, first: number, start: number, end: number, allowEncrypted: boolean): Parsed<DecodedChain> {
  const payloads: Payload[] = [];
  let next = first;
  let off = start;
  while (next !== PayloadType.NONE) {
    if (off + GENERIC_HEADER_LENGTH > end) return fail('truncated', `payload ${next} header truncated`, { notify: Notify.INVALID_SYNTAX });
    const type = next;
    next = buf[off]!;
    const critical = (buf[off + 1]! & 0x80) !== 0;
    const len = buf.readUInt16BE(off + 2);
    if (len < GENERIC_HEADER_LENGTH || off + len > end) {
      return fail('bad-length', `payload ${type} length ${len} overruns message`, { notify: Notify.INVALID_SYNTAX });
    }
    if (type === PayloadType.SK || type === PayloadType.SKF) {
      if (!allowEncrypted) return fail('bad-value', 'encrypted payload inside an encrypted payload', { notify: Notify.INVALID_SYNTAX });
      if (off + len !== end) return fail('bad-value', 'encrypted payload is not the last payload', { notify: Notify.INVALID_SYNTAX });
      return ok({ payloads, encrypted: { type, innerFirst: next, offset: off, end: off + len } });
    }
    const body = buf.subarray(off + GENERIC_HEADER_LENGTH, off + len);
    if (!KNOWN_PAYLOADS.has(type) && critical) {
      return fail('unsupported-critical', `unsupported critical payload ${type}`, { notify: Notify.UNSUPPORTED_CRITICAL_PAYLOAD, payloadType: type });
    }
    const p = decodeBody(type, critical, body);
    if (!p.ok) return p;
    payloads.push(p.value);
    off += len;
  }
  if (off !== end) return fail('bad-length', `${end - off} bytes after the last payload`, { notify: Notify.INVALID_SYNTAX });
  return ok({ payloads });
}

/** Encodes payloads as a chain; returns the bytes and the type of the first payload. */
export function encodeChain(payloads: readonly Payload[]): { bytes: Buffer; first: number } {
  const parts: Buffer[] = [];
  payloads.forEach((p, i) => {
    const body = encodeBody(p);
    const h = Buffer.alloc(GENERIC_HEADER_LENGTH);
    h[0] = payloads[i + 1]?.type ?? PayloadType.NONE;
    h[1] = p.critical ? 0x80 : 0;
    h.writeUInt16BE(GENERIC_HEADER_LENGTH + body.length, 2);
    parts.push(h, body);
  });
  return { bytes: Buffer.concat(parts), first: payloads[0]?.type ?? PayloadType.NONE };
}
