import { timingSafeEqual } from 'node:crypto';

export type Prf = (key: Buffer, data: Buffer) => Buffer;

const KEY_PAD = Buffer.from('Key Pad for IKEv2', 'ascii');

/** Shared Key Message Integrity Code (RFC 7296 §2.15): prf(prf(secret, "Key Pad for IKEv2"), signed octets). */
export function pskAuth(prf: Prf, secret: Buffer, signedOctets: Buffer): Buffer {
  return prf(prf(secret, KEY_PAD), signedOctets);
}

/** Compares in constant time; a length difference is a plain mismatch. */
export function pskVerify(prf: Prf, secret: Buffer, signedOctets: Buffer, received: Buffer): boolean {
  const expected = pskAuth(prf, secret, signedOctets);
  return expected.length === received.length && timingSafeEqual(expected, received);
}
