import { EspGcm, GCM_ICV_LENGTH, GCM_IV_LENGTH } from '../../crypto/aes-gcm.js';

/**
 * The SK payload's AEAD as RFC 5282 defines it for AES-GCM with a 16-byte ICV: the key is SK_e*
 * (AES key ‖ 4-byte salt), the nonce salt ‖ 8-byte IV carried in the payload, and the AAD the
 * message from the IKE header up to the end of the SK (or SKF) payload header, excluding the IV.
 */
export const SK_OVERHEAD = GCM_IV_LENGTH + GCM_ICV_LENGTH;

/** Plaintext ‖ padding ‖ pad-length byte. GCM needs no block alignment, so we add no padding. */
export function padPlaintext(inner: Buffer): Buffer {
  return Buffer.concat([inner, Buffer.from([0])]);
}

/** Removes RFC 7296 §3.14 padding; null when the pad length is impossible. */
export function unpadPlaintext(pt: Buffer): Buffer | null {
  if (pt.length < 1) return null;
  const padLen = pt[pt.length - 1]!;
  if (padLen + 1 > pt.length) return null;
  return pt.subarray(0, pt.length - 1 - padLen);
}

/**
 * One AES-GCM context per SK_e key, made on first use and kept as long as the key is. Setting up
 * a context (OpenSSL's two, with their key schedules) for every message and freeing it after was
 * most of what a liveness check cost: idle agents each check ~100 IKE SAs every 30 s (at 50 idle
 * nodes the set-up was ~5 % of the agents' CPU). Keyed by the key Buffer itself — an SA's keys are
 * Buffers that never change in place, and are replaced by new Buffers when compacted or rekeyed —
 * so a context lives exactly as long as its key: when the key is collected, so is the context,
 * and its native part (key schedule wiped) is freed by the collector, as the key's own bytes are.
 */
const contexts = new WeakMap<Buffer, EspGcm>();
let made = 0;

function gcmFor(key: Buffer): EspGcm {
  let gcm = contexts.get(key);
  if (!gcm) {
    contexts.set(key, (gcm = new EspGcm(key)));
    made++;
  }
  return gcm;
}

/** How many SK contexts were set up so far (tests and diagnostics). */
export function skContextsMade(): number {
  return made;
}

export function sealSk(key: Buffer, iv: Buffer, aad: Buffer, plaintext: Buffer): Buffer {
  const out = Buffer.alloc(GCM_IV_LENGTH + plaintext.length + GCM_ICV_LENGTH);
  iv.copy(out, 0, 0, GCM_IV_LENGTH);
  gcmFor(key).seal(iv, aad, plaintext, out, GCM_IV_LENGTH);
  return out;
}

/** Opens IV ‖ ciphertext ‖ ICV; null when too short or the ICV does not verify. */
export function openSk(key: Buffer, aad: Buffer, body: Buffer): Buffer | null {
  if (body.length < SK_OVERHEAD + 1) return null;
  const iv = body.subarray(0, GCM_IV_LENGTH);
  const ct = body.subarray(GCM_IV_LENGTH, body.length - GCM_ICV_LENGTH);
  const icv = body.subarray(body.length - GCM_ICV_LENGTH);
  const out = Buffer.alloc(ct.length);
  const n = gcmFor(key).open(iv, aad, ct, icv, out, 0);
  return n < 0 ? null : out.subarray(0, n);
}
