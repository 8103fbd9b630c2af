import { loadNative } from './tun.js';

/**
 * AES-GCM in the native addon (native/aead.cc): one OpenSSL cipher context per key and
 * direction, made once and reused per packet with only the nonce reset. Results are written
 * into the caller's buffers; nothing is allocated per packet.
 */
export interface NativeAesGcm {
  readonly keyBits: 128 | 256;
  /** Writes ciphertext ‖ 16-byte ICV at out[outOffset]; returns plaintext.length + 16. RangeError for an IV that is not 8 bytes or a short `out`. */
  seal(iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, outOffset: number): number;
  /** Writes the plaintext at out[outOffset]; returns its length, or -1 when the ICV does not verify (the output range is then zeroed). */
  open(iv: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array, icv: Uint8Array, out: Uint8Array, outOffset: number): number;
  /** seal() with every span given by offset: no typed-array views per packet. */
  sealAt(ivBuf: Uint8Array, ivOffset: number, aad: Uint8Array, aadLength: number, input: Uint8Array, inOffset: number, inLength: number, out: Uint8Array, outOffset: number): number;
  /** open() on spans of one buffer given by offset; -1 for a bad ICV or a span outside `buf`. */
  openAt(buf: Uint8Array, ivOffset: number, aad: Uint8Array, aadLength: number, ctOffset: number, ctLength: number, icvOffset: number, out: Uint8Array, outOffset: number): number;
  /**
   * Seals `count` packets inside `buf` in one call. `desc` holds 6 words per packet: ivOffset,
   * aadOffset, aadLength, inOffset, inLength, outOffset. Returns how many were sealed (stops at
   * the first descriptor that does not fit `buf`).
   */
  sealBatch(buf: Uint8Array, count: number, desc: Uint32Array): number;
  /** Opens `count` packets inside `buf` (desc as for sealBatch, ICV right after the ciphertext); results[i] = length or -1. */
  openBatch(buf: Uint8Array, count: number, desc: Uint32Array, results: Int32Array): number;
  /** Frees both contexts now (the key schedule is wiped); later calls throw. The GC does the same otherwise. */
  dispose(): void;
}

type AesGcmConstructor = new (keyAndSalt: Uint8Array) => NativeAesGcm;

let ctor: AesGcmConstructor | null | undefined;

/**
 * The native AES-GCM class, or null when the addon is missing or was built without it (the
 * caller then uses node:crypto). OVERLAY_IPSEC_AEAD=node forces null, for comparisons.
 */
export function nativeAesGcm(): AesGcmConstructor | null {
  if (ctor !== undefined) return ctor;
  ctor = null;
  if (process.env['OVERLAY_IPSEC_AEAD'] === 'node') return ctor;
  try {
    const c = (loadNative() as unknown as { AesGcm?: AesGcmConstructor }).AesGcm;
    if (typeof c === 'function') ctor = c;
  } catch {
    // No addon (not built, or another platform): the node:crypto path serves.
  }
  return ctor;
}
