import { SUPPORTED_SIGNATURE_HASHES } from './constants.js';

/** CERT and CERTREQ encoding "X.509 Certificate - Signature" (RFC 7296 §3.6). */
export const CERT_ENCODING_X509_SIGNATURE = 4;

/** The SIGNATURE_HASH_ALGORITHMS notify data we send: 16-bit hash ids (RFC 7427 §4). */
export function signatureHashNotifyData(): Buffer {
  const out = Buffer.alloc(SUPPORTED_SIGNATURE_HASHES.length * 2);
  SUPPORTED_SIGNATURE_HASHES.forEach((h, i) => out.writeUInt16BE(h, i * 2));
  return out;
}

/** The hash ids a peer listed; a trailing odd byte is ignored. */
export function parseSignatureHashNotify(data: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < data.length; i += 2) out.push(data.readUInt16BE(i));
  return out;
}
