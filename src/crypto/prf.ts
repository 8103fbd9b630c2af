import { createHmac } from 'node:crypto';

/** The IKEv2 pseudo-random functions we support: HMAC-SHA2 (RFC 4868). */
export type PrfHash = 'sha256' | 'sha384' | 'sha512';

export interface Prf {
  readonly hash: PrfHash;
  /** Output length in bytes; also the preferred key length (RFC 4868 §2.1.2). */
  readonly size: number;
  (key: Uint8Array, data: Uint8Array): Buffer;
}

const SIZES: Record<PrfHash, number> = { sha256: 32, sha384: 48, sha512: 64 };

export function hmacPrf(hash: PrfHash): Prf {
  const f = ((key: Uint8Array, data: Uint8Array) => createHmac(hash, key).update(data).digest()) as Prf;
  Object.defineProperty(f, 'hash', { value: hash });
  Object.defineProperty(f, 'size', { value: SIZES[hash] });
  return f;
}

/**
 * prf+ (RFC 7296 §2.13): T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n), output T1 | T2 | ...
 * truncated to `length`. At most 255 blocks can be produced.
 */
export function prfPlus(prf: Prf, key: Uint8Array, seed: Uint8Array, length: number): Buffer {
  const blocks = Math.ceil(length / prf.size);
  if (blocks > 255) throw new RangeError(`prf+ cannot produce ${length} bytes with ${prf.hash}`);
  const out = Buffer.alloc(blocks * prf.size);
  let t: Buffer = Buffer.alloc(0);
  for (let i = 1; i <= blocks; i++) {
    t = prf(key, Buffer.concat([t, seed, Buffer.from([i])]));
    t.copy(out, (i - 1) * prf.size);
  }
  return out.subarray(0, length);
}
