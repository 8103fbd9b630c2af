import { createCipheriv, createDecipheriv, timingSafeEqual } from 'node:crypto';
import { nativeAesGcm, type NativeAesGcm } from '../native/aead.js';

/**
 * AES-GCM with a 16-byte ICV as ESP uses it (RFC 4106): the SA key material is the AES key
 * followed by a 4-byte salt; each packet's 12-byte nonce is salt ‖ 8-byte explicit IV; the
 * AAD is SPI ‖ sequence number (8 bytes, or 12 with ESN).
 *
 * Two implementations, chosen once per key at construction: the native addon's AesGcm (one
 * OpenSSL context per key, reused per packet — no per-packet context set-up or allocation) when
 * the addon is loaded, else node:crypto (a fresh cipher per packet). Both give the same bytes and
 * the same errors; `implementation` says which one serves this key.
 */
export const GCM_ICV_LENGTH = 16;
export const GCM_SALT_LENGTH = 4;
export const GCM_IV_LENGTH = 8;

export type GcmKeyBits = 128 | 256;

export type GcmImplementation = 'native' | 'node';

export class EspGcm {
  readonly keyBits: GcmKeyBits;
  readonly implementation: GcmImplementation;
  private readonly native: NativeAesGcm | null;
  private readonly key: Buffer;
  private readonly algorithm: 'aes-128-gcm' | 'aes-256-gcm';
  /** Reused nonce buffer: salt in the first 4 bytes, the packet's IV written per call. */
  private readonly nonce = Buffer.alloc(12);

  /**
   * `opts.implementation` pins one implementation (tests and benchmarks compare both); without
   * it the native one is used when the addon is loaded. Asking for 'native' without the addon throws.
   */
  constructor(keyAndSalt: Uint8Array, opts: { implementation?: GcmImplementation } = {}) {
    const keyLen = keyAndSalt.length - GCM_SALT_LENGTH;
    if (keyLen !== 16 && keyLen !== 32) {
      throw new RangeError(`AES-GCM key material must be 20 or 36 bytes (key ‖ 4-byte salt), got ${keyAndSalt.length}`);
    }
    this.keyBits = keyLen === 16 ? 128 : 256;
    this.algorithm = keyLen === 16 ? 'aes-128-gcm' : 'aes-256-gcm';
    const Native = opts.implementation === 'node' ? null : nativeAesGcm();
    if (opts.implementation === 'native' && !Native) throw new Error('native AES-GCM requested but the addon is not loaded');
    this.native = Native ? new Native(keyAndSalt) : null;
    this.implementation = this.native ? 'native' : 'node';
    // The native context holds the key itself; keep no second copy in the JS heap then.
    this.key = this.native ? Buffer.alloc(0) : Buffer.from(keyAndSalt.subarray(0, keyLen));
    this.nonce.set(keyAndSalt.subarray(keyLen), 0);
  }

  /** Releases the key now: frees the native context (its key schedule is wiped) or zeroes the JS copy. Later use throws. */
  dispose(): void {
    if (this.native) this.native.dispose();
    this.key.fill(0);
    this.nonce.fill(0);
    this.disposed = true;
  }

  private disposed = false;

  /**
   * Encrypts `plaintext` and writes ciphertext ‖ ICV into `out` at `outOffset`.
   * Returns the number of bytes written (plaintext.length + 16). `out` may overlap plaintext.
   */
  seal(iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Buffer, outOffset: number): number {
    if (this.native) return this.native.seal(iv, aad, plaintext, out, outOffset);
    if (this.disposed) throw new Error('EspGcm used after dispose()');
    // A short IV would leave bytes of the previous packet's IV in the nonce: a nonce reuse, the one
    // mistake GCM does not survive. A short output buffer would make Buffer.copy truncate silently.
    if (iv.length !== GCM_IV_LENGTH) throw new RangeError(`ESP IV must be ${GCM_IV_LENGTH} bytes, got ${iv.length}`);
    if (outOffset < 0 || out.length - outOffset < plaintext.length + GCM_ICV_LENGTH) {
      throw new RangeError(`output buffer too small: ${plaintext.length + GCM_ICV_LENGTH} bytes needed at offset ${outOffset} of ${out.length}`);
    }
    this.nonce.set(iv, GCM_SALT_LENGTH);
    const c = createCipheriv(this.algorithm, this.key, this.nonce, { authTagLength: GCM_ICV_LENGTH });
    c.setAAD(aad);
    const body = c.update(plaintext);
    body.copy(out, outOffset);
    const fin = c.final();
    let n = body.length;
    if (fin.length > 0) n += fin.copy(out, outOffset + n);
    c.getAuthTag().copy(out, outOffset + n);
    return n + GCM_ICV_LENGTH;
  }

  /**
   * seal() with the IV, the plaintext and the output given as offsets into buffers, and the AAD
   * as the first `aadLength` bytes of `aad`: the same bytes, without a view made per packet.
   */
  sealAt(ivBuf: Buffer, ivOffset: number, aad: Buffer, aadLength: number, input: Buffer, inOffset: number, inLength: number, out: Buffer, outOffset: number): number {
    if (this.native) return this.native.sealAt(ivBuf, ivOffset, aad, aadLength, input, inOffset, inLength, out, outOffset);
    return this.seal(ivBuf.subarray(ivOffset, ivOffset + GCM_IV_LENGTH), aad.subarray(0, aadLength), input.subarray(inOffset, inOffset + inLength), out, outOffset);
  }

  /** open() with IV, ciphertext and ICV as offsets into one buffer (a received packet). */
  openAt(buf: Buffer, ivOffset: number, aad: Buffer, aadLength: number, ctOffset: number, ctLength: number, icvOffset: number, out: Buffer, outOffset: number): number {
    if (this.native) return this.native.openAt(buf, ivOffset, aad, aadLength, ctOffset, ctLength, icvOffset, out, outOffset);
    return this.open(buf.subarray(ivOffset, ivOffset + GCM_IV_LENGTH), aad.subarray(0, aadLength), buf.subarray(ctOffset, ctOffset + ctLength),
      buf.subarray(icvOffset, icvOffset + GCM_ICV_LENGTH), out, outOffset);
  }

  /**
   * Seals `count` packets that all live in `buf`, in one call into the addon. `desc` holds 6 words
   * per packet: ivOffset, aadOffset, aadLength, inOffset, inLength, outOffset (ciphertext ‖ ICV is
   * written there; in place when outOffset = inOffset). Returns how many were sealed: fewer than
   * `count` only when a descriptor lies outside `buf` (the rest are left unsealed).
   */
  sealBatch(buf: Buffer, count: number, desc: Uint32Array): number {
    if (this.native) return this.native.sealBatch(buf, count, desc);
    for (let i = 0, d = 0; i < count; i++, d += 6) {
      const [ivOff, aadOff, aadLen, inOff, inLen, outOff] = [desc[d]!, desc[d + 1]!, desc[d + 2]!, desc[d + 3]!, desc[d + 4]!, desc[d + 5]!];
      if (ivOff + GCM_IV_LENGTH > buf.length || aadOff + aadLen > buf.length || inOff + inLen > buf.length || outOff + inLen + GCM_ICV_LENGTH > buf.length) return i;
      // Copies first: node:crypto's output is a new buffer, so in-place is safe; the AAD may lie inside the output span.
      this.seal(Buffer.from(buf.subarray(ivOff, ivOff + GCM_IV_LENGTH)), Buffer.from(buf.subarray(aadOff, aadOff + aadLen)),
        buf.subarray(inOff, inOff + inLen), buf, outOff);
    }
    return count;
  }

  /**
   * Opens `count` packets inside `buf` in one call (desc as for sealBatch; each ICV follows its
   * ciphertext). results[i] is the plaintext length, or -1 when the ICV did not verify (that
   * output span is then zeroed). Returns how many were looked at (fewer only for a descriptor
   * outside `buf`).
   */
  openBatch(buf: Buffer, count: number, desc: Uint32Array, results: Int32Array): number {
    if (this.native) return this.native.openBatch(buf, count, desc, results);
    for (let i = 0, d = 0; i < count; i++, d += 6) {
      const [ivOff, aadOff, aadLen, inOff, inLen, outOff] = [desc[d]!, desc[d + 1]!, desc[d + 2]!, desc[d + 3]!, desc[d + 4]!, desc[d + 5]!];
      if (ivOff + GCM_IV_LENGTH > buf.length || aadOff + aadLen > buf.length || inOff + inLen + GCM_ICV_LENGTH > buf.length || outOff + inLen > buf.length) return i;
      const iv = Buffer.from(buf.subarray(ivOff, ivOff + GCM_IV_LENGTH));
      const aad = Buffer.from(buf.subarray(aadOff, aadOff + aadLen));
      const icv = Buffer.from(buf.subarray(inOff + inLen, inOff + inLen + GCM_ICV_LENGTH));
      const n = this.open(iv, aad, buf.subarray(inOff, inOff + inLen), icv, buf, outOff);
      if (n < 0) buf.fill(0, outOff, outOff + inLen);
      results[i] = n;
    }
    return count;
  }

  /**
   * Verifies and decrypts `ciphertext` (without the ICV) into `out` at `outOffset`.
   * Returns the plaintext length, or -1 when the ICV does not verify (nothing is written then
   * that the caller may use).
   */
  open(iv: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array, icv: Uint8Array, out: Buffer, outOffset: number): number {
    if (this.native) return this.native.open(iv, aad, ciphertext, icv, out, outOffset);
    if (this.disposed) throw new Error('EspGcm used after dispose()');
    // Packet-derived lengths that do not fit are a forgery or a framing bug: refuse, never guess.
    if (icv.length !== GCM_ICV_LENGTH || iv.length !== GCM_IV_LENGTH) return -1;
    if (outOffset < 0 || out.length - outOffset < ciphertext.length) {
      throw new RangeError(`output buffer too small: ${ciphertext.length} bytes needed at offset ${outOffset} of ${out.length}`);
    }
    this.nonce.set(iv, GCM_SALT_LENGTH);
    const d = createDecipheriv(this.algorithm, this.key, this.nonce, { authTagLength: GCM_ICV_LENGTH });
    d.setAAD(aad);
    d.setAuthTag(icv);
    const body = d.update(ciphertext);
    try {
      const fin = d.final();
      body.copy(out, outOffset);
      if (fin.length > 0) fin.copy(out, outOffset + body.length);
      return body.length + fin.length;
    } catch {
      return -1;
    }
  }
}

/** Constant-time comparison for secrets (PSKs, MACs) outside GCM. */
export function equalSecret(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
