import { GENERIC_HEADER_LENGTH, IKE_HEADER_LENGTH, PayloadType } from '../constants.js';
import { decodeChain, encodeChain } from './chain.js';
import { decodeHeader, encodeHeader, type IkeHeader } from './header.js';
import type { Payload } from './payloads.js';
import { fail, ok, type Parsed } from './result.js';
import { openSk, padPlaintext, sealSk, SK_OVERHEAD, unpadPlaintext } from './sk.js';

/** What identifies a message apart from its payloads. */
export interface MessageFrame {
  spiI: Buffer;
  spiR: Buffer;
  exchangeType: number;
  flags: number;
  messageId: number;
}

/** A decoded message. `payloads` are the inner (decrypted) ones when it was protected. */
export interface IkeMessage {
  header: IkeHeader;
  payloads: Payload[];
  protected: boolean;
}

/** One RFC 7383 fragment, already authenticated and decrypted. */
export interface DecodedFragment {
  header: IkeHeader;
  number: number;
  total: number;
  /** First inner payload type (meaningful in fragment 1 only). */
  innerFirst: number;
  /** Decrypted content with padding removed. */
  content: Buffer;
}

/** Encodes an unprotected message (IKE_SA_INIT). */
export function encodePlain(frame: MessageFrame, payloads: readonly Payload[]): Buffer {
  const chain = encodeChain(payloads);
  const header = encodeHeader({ ...frame, nextPayload: chain.first, length: IKE_HEADER_LENGTH + chain.bytes.length });
  return Buffer.concat([header, chain.bytes]);
}

/**
 * Encodes a message whose payloads all travel inside SK (§3.14, RFC 5282). `key` is SK_ei or SK_er
 * (AES key ‖ salt); `iv` 8 bytes, never reused with the same key.
 */
export function encodeProtected(frame: MessageFrame, payloads: readonly Payload[], key: Buffer, iv: Buffer): Buffer {
  const chain = encodeChain(payloads);
  const pt = padPlaintext(chain.bytes);
  const skLen = GENERIC_HEADER_LENGTH + SK_OVERHEAD + pt.length;
  const header = encodeHeader({ ...frame, nextPayload: PayloadType.SK, length: IKE_HEADER_LENGTH + skLen });
  const skHeader = Buffer.alloc(GENERIC_HEADER_LENGTH);
  skHeader[0] = chain.first;
  skHeader.writeUInt16BE(skLen, 2);
  const aad = Buffer.concat([header, skHeader]);
  return Buffer.concat([aad, sealSk(key, iv, aad, pt)]);
}

/** Size of the protected encoding of these payloads, without encrypting. */
export function protectedLength(payloads: readonly Payload[]): number {
  return IKE_HEADER_LENGTH + GENERIC_HEADER_LENGTH + SK_OVERHEAD + encodeChain(payloads).bytes.length + 1;
}

const SKF_HEADER_LENGTH = GENERIC_HEADER_LENGTH + 4;

/**
 * Splits a protected message into SKF fragments (RFC 7383 §2.5) so that each datagram's IKE message
 * is at most `maxMessage` bytes. `ivs` yields a fresh IV per fragment.
 */
export function encodeFragments(frame: MessageFrame, payloads: readonly Payload[], key: Buffer, nextIv: () => Buffer, maxMessage: number): Buffer[] {
  const chain = encodeChain(payloads);
  const perFragment = maxMessage - IKE_HEADER_LENGTH - SKF_HEADER_LENGTH - SK_OVERHEAD - 1;
  if (perFragment < 64) throw new RangeError(`fragment size ${maxMessage} too small`);
  const total = Math.max(1, Math.ceil(chain.bytes.length / perFragment));
  const out: Buffer[] = [];
  for (let i = 0; i < total; i++) {
    const pt = padPlaintext(chain.bytes.subarray(i * perFragment, (i + 1) * perFragment));
    const skfLen = SKF_HEADER_LENGTH + SK_OVERHEAD + pt.length;
    const header = encodeHeader({ ...frame, nextPayload: PayloadType.SKF, length: IKE_HEADER_LENGTH + skfLen });
    const skf = Buffer.alloc(SKF_HEADER_LENGTH);
    skf[0] = i === 0 ? chain.first : PayloadType.NONE;
    skf.writeUInt16BE(skfLen, 2);
    skf.writeUInt16BE(i + 1, 4);
    skf.writeUInt16BE(total, 6);
    const aad = Buffer.concat([header, skf]);
    out.push(Buffer.concat([aad, sealSk(key, nextIv(), aad, pt)]));
  }
  return out;
}

export type Decoded =
  | { kind: 'message'; message: IkeMessage }
  | { kind: 'fragment'; fragment: DecodedFragment };

/**
 * Decodes a datagram (without any non-ESP marker). `keyFor` returns the key to open SK with for
 * this header (the peer's SK_e), or undefined when we hold no keys (then SK fails as decrypt-failed).
 */
export function decodeMessage(datagram: Buffer, keyFor: (h: IkeHeader) => Buffer | undefined): Parsed<Decoded> {
  const hr = decodeHeader(datagram);
  if (!hr.ok) return hr;
  const header = hr.value;
  const outer = decodeChain(datagram, header.nextPayload, IKE_HEADER_LENGTH, datagram.length, true);
  if (!outer.ok) return outer;
  const enc = outer.value.encrypted;
  if (!enc) return ok({ kind: 'message', message: { header, payloads: outer.value.payloads, protected: false } });
  const key = keyFor(header);
  if (!key) return fail('decrypt-failed', 'encrypted payload but no keys for this SA');
  const isFragment = enc.type === PayloadType.SKF;
  const headerLen = isFragment ? SKF_HEADER_LENGTH : GENERIC_HEADER_LENGTH;
  if (enc.end - enc.offset < headerLen + SK_OVERHEAD + 1) return fail('truncated', 'encrypted payload too short');
  const aad = datagram.subarray(0, enc.offset + headerLen);
  const pt = openSk(key, aad, datagram.subarray(enc.offset + headerLen, enc.end));
  if (!pt) return fail('decrypt-failed', 'ICV check failed');
  const content = unpadPlaintext(pt);
  if (!content) return fail('bad-padding', 'impossible pad length');
  if (isFragment) {
    const number = datagram.readUInt16BE(enc.offset + 4);
    const total = datagram.readUInt16BE(enc.offset + 6);
    if (number < 1 || total < 1 || number > total) return fail('bad-value', `fragment ${number} of ${total}`);
    return ok({ kind: 'fragment', fragment: { header, number, total, innerFirst: enc.innerFirst, content: Buffer.from(content) } });
  }
  const inner = decodeChain(content, enc.innerFirst, 0, content.length, false);
  if (!inner.ok) return inner;
  return ok({ kind: 'message', message: { header, payloads: [...outer.value.payloads, ...inner.value.payloads], protected: true } });
}

/** Parses the inner payloads of a reassembled fragmented message. */
export function decodeReassembled(header: IkeHeader, innerFirst: number, content: Buffer): Parsed<IkeMessage> {
  const inner = decodeChain(content, innerFirst, 0, content.length, false);
  if (!inner.ok) return inner;
  return ok({ header, payloads: inner.value.payloads, protected: true });
}
