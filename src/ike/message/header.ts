import { Flag, IKE_HEADER_LENGTH, IKE_MAJOR_VERSION } from '../constants.js';
import { Notify } from '../constants.js';
import { fail, ok, type Parsed } from './result.js';

/** The fixed IKE header (RFC 7296 §3.1). */
export interface IkeHeader {
  spiI: Buffer; // 8 bytes
  spiR: Buffer; // 8 bytes
  nextPayload: number;
  majorVersion: number;
  minorVersion: number;
  exchangeType: number;
  flags: number;
  messageId: number;
  length: number;
}

export function isResponse(h: IkeHeader): boolean {
  return (h.flags & Flag.RESPONSE) !== 0;
}

export function fromInitiator(h: IkeHeader): boolean {
  return (h.flags & Flag.INITIATOR) !== 0;
}

export function decodeHeader(buf: Buffer): Parsed<IkeHeader> {
  if (buf.length < IKE_HEADER_LENGTH) return fail('truncated', `datagram of ${buf.length} bytes is shorter than an IKE header`);
  const version = buf[17]!;
  const h: IkeHeader = {
    spiI: Buffer.from(buf.subarray(0, 8)),
    spiR: Buffer.from(buf.subarray(8, 16)),
    nextPayload: buf[16]!,
    majorVersion: version >> 4,
    minorVersion: version & 0x0f,
    exchangeType: buf[18]!,
    flags: buf[19]!,
    messageId: buf.readUInt32BE(20),
    length: buf.readUInt32BE(24),
  };
  if (h.majorVersion !== IKE_MAJOR_VERSION) {
    return fail('bad-version', `IKE major version ${h.majorVersion}`, { notify: Notify.INVALID_MAJOR_VERSION });
  }
  if (h.length !== buf.length) {
    return fail('bad-length', `header length ${h.length} but datagram has ${buf.length} bytes`, { notify: Notify.INVALID_SYNTAX });
  }
  return ok(h);
}

export function encodeHeader(h: Omit<IkeHeader, 'majorVersion' | 'minorVersion'> & { majorVersion?: number; minorVersion?: number }): Buffer {
  const b = Buffer.alloc(IKE_HEADER_LENGTH);
  h.spiI.copy(b, 0, 0, 8);
  h.spiR.copy(b, 8, 0, 8);
  b[16] = h.nextPayload;
  b[17] = ((h.majorVersion ?? IKE_MAJOR_VERSION) << 4) | (h.minorVersion ?? 0);
  b[18] = h.exchangeType;
  b[19] = h.flags;
  b.writeUInt32BE(h.messageId >>> 0, 20);
  b.writeUInt32BE(h.length >>> 0, 24);
  return b;
}
