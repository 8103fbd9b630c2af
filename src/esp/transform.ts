import { EspGcm } from '../crypto/aes-gcm.js';
import {
  ESP_HEADER_LENGTH,
  ESP_IV_LENGTH,
  ESP_ICV_LENGTH,
  espEncryptedLength,
  writeEspAad,
  writeEspHeader,
  writeEspIv,
  writeEspTrailer,
  type EspPacketView,
} from '../wire/esp.js';

/**
 * The ESP transform for AES-GCM-16 (RFC 4106): turns a payload into a complete ESP packet and
 * back, for one key. It knows nothing about sequence-number policy or replay; the SAs do.
 */

/**
 * One plaintext scratch shared by every transform: payload ‖ padding ‖ trailer is assembled
 * here before encryption. Sealing is synchronous and never re-entered, so sharing is safe,
 * and it keeps memory flat with thousands of SAs.
 */
let plaintextScratch = Buffer.allocUnsafe(2048);

function scratchFor(length: number): Buffer {
  if (plaintextScratch.length < length) {
    plaintextScratch = Buffer.allocUnsafe(Math.max(length, plaintextScratch.length * 2));
  }
  return plaintextScratch;
}

export class EspGcmTransform {
  private readonly gcm: EspGcm;
  private readonly aad = Buffer.alloc(12);
  /** AES key size; the key material is key ‖ 4-byte salt, 20 or 36 bytes. */
  readonly keyBits: 128 | 256;

  constructor(keyAndSalt: Uint8Array) {
    this.gcm = new EspGcm(keyAndSalt);
    this.keyBits = this.gcm.keyBits;
  }

  /**
   * Writes the ESP packet for `srcLength` payload bytes at `src[srcOffset]` into `out` at
   * `outOffset` and returns its length (see espPacketLength). `seqHigh` is given only with
   * extended sequence numbers (it then enters the AAD, never the wire).
   */
  seal(
    spi: number,
    seqLow: number,
    seqHigh: number | undefined,
    ivHigh: number,
    ivLow: number,
    src: Buffer,
    srcOffset: number,
    srcLength: number,
    nextHeader: number,
    out: Buffer,
    outOffset: number,
  ): number {
    const encryptedLength = espEncryptedLength(srcLength);
    const plain = scratchFor(encryptedLength);
    src.copy(plain, 0, srcOffset, srcOffset + srcLength);
    writeEspTrailer(plain, 0, srcLength, nextHeader);

    writeEspHeader(out, outOffset, spi, seqLow);
    const ivOffset = outOffset + ESP_HEADER_LENGTH;
    writeEspIv(out, ivOffset, ivHigh, ivLow);
    const aadLength = writeEspAad(this.aad, spi, seqLow, seqHigh);
    const written = this.gcm.sealAt(out, ivOffset, this.aad, aadLength, plain, 0, encryptedLength, out, ivOffset + ESP_IV_LENGTH);
    return ESP_HEADER_LENGTH + ESP_IV_LENGTH + written;
  }

  /**
   * Seals a run of packets already laid out in `buf` (SPI ‖ seq ‖ IV ‖ payload ‖ padding ‖
   * trailer each), in place, with one call into the addon. `desc`: 6 words per packet as for
   * EspGcm.sealBatch, the AAD being the packet's own SPI ‖ seq (no ESN).
   */
  sealBatch(buf: Buffer, count: number, desc: Uint32Array): number {
    return this.gcm.sealBatch(buf, count, desc);
  }

  /** Opens a run of packets in `buf` in place (see EspGcm.openBatch). */
  openBatch(buf: Buffer, count: number, desc: Uint32Array, results: Int32Array): number {
    return this.gcm.openBatch(buf, count, desc, results);
  }

  /**
   * Verifies the ICV of a parsed packet and decrypts its encrypted part (payload ‖ padding ‖
   * trailer) into `out` at `outOffset`. Returns the decrypted length, or -1 when the ICV does not
   * verify (then nothing usable was written).
   */
  open(buf: Buffer, view: EspPacketView, seqHigh: number | undefined, out: Buffer, outOffset: number): number {
    const aadLength = writeEspAad(this.aad, view.spi, view.seq, seqHigh);
    return this.gcm.openAt(buf, view.ivOffset, this.aad, aadLength, view.ciphertextOffset, view.ciphertextLength, view.icvOffset, out, outOffset);
  }
}
