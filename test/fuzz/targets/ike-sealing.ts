import { GENERIC_HEADER_LENGTH, IKE_HEADER_LENGTH, PayloadType } from '../../../src/ike/constants.js';
import { decodeMessage } from '../../../src/ike/message/message.js';
import { padPlaintext, sealSk, unpadPlaintext, openSk } from '../../../src/ike/message/sk.js';

/**
 * Mutating a protected IKE message only ever exercises the ICV check. To reach the parsers behind
 * it, the IKE fuzz targets take "templates": the message with its SK (or SKF) payload's content in
 * clear (header ‖ SK header [‖ fragment number, total] ‖ inner payloads). The harness encrypts the
 * mutated content with the receiver's real key before feeding it in, fixing only the two length
 * fields the AEAD and header check would otherwise refuse first.
 */
const SKF_EXTRA = 4;

/** Turns a template into a protected message sealed with `key`; undefined if it is not one. */
export function sealTemplate(t: Buffer, key: Buffer, iv: Buffer): Buffer | undefined {
  if (t.length < IKE_HEADER_LENGTH + GENERIC_HEADER_LENGTH) return undefined;
  const type = t[16];
  if (type !== PayloadType.SK && type !== PayloadType.SKF) return undefined;
  const hl = GENERIC_HEADER_LENGTH + (type === PayloadType.SKF ? SKF_EXTRA : 0);
  if (t.length < IKE_HEADER_LENGTH + hl) return undefined;
  const pt = padPlaintext(t.subarray(IKE_HEADER_LENGTH + hl));
  const sealedLen = 8 + pt.length + 16;
  const head = Buffer.from(t.subarray(0, IKE_HEADER_LENGTH + hl));
  head.writeUInt32BE(IKE_HEADER_LENGTH + hl + sealedLen, 24);
  head.writeUInt16BE(hl + sealedLen, IKE_HEADER_LENGTH + 2);
  return Buffer.concat([head, sealSk(key, iv, head, pt)]);
}

/** The template of a protected message we can open (the inverse of sealTemplate). */
export function templateOf(message: Buffer, key: Buffer): Buffer | undefined {
  const r = decodeMessage(message, () => key);
  if (!r.ok || message[16] !== PayloadType.SK && message[16] !== PayloadType.SKF) return undefined;
  const hl = GENERIC_HEADER_LENGTH + (message[16] === PayloadType.SKF ? SKF_EXTRA : 0);
  const aad = message.subarray(0, IKE_HEADER_LENGTH + hl);
  const pt = openSk(key, aad, message.subarray(IKE_HEADER_LENGTH + hl));
  const content = pt ? unpadPlaintext(pt) : null;
  if (!content) return undefined;
  return Buffer.concat([aad, content]);
}
