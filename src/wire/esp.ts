/**
 * ESP packet framing (RFC 4303) for AES-GCM with an 8-byte explicit IV (RFC 4106):
 *
 *   SPI (4) ‖ Sequence Number (4) ‖ IV (8) ‖ ciphertext of
 *   [ payload ‖ padding 1,2,3,… ‖ pad length (1) ‖ next header (1) ] ‖ ICV (16)
 *
 * This file only lays bytes out and reads them back; encryption lives in crypto/, the SA
 * logic in esp/. Parsers never throw on packet input: they return a cause instead.
 */

export const ESP_HEADER_LENGTH = 8;
export const ESP_IV_LENGTH = 8;
export const ESP_ICV_LENGTH = 16;
/** Pad Length and Next Header. */
export const ESP_TRAILER_LENGTH = 2;
/** RFC 4303 §2.4: the encrypted part (payload ‖ padding ‖ trailer) ends on a 4-byte boundary. */
export const ESP_ALIGNMENT = 4;
/** Smallest encrypted part: an empty payload still needs 2 padding bytes to reach 4. */
export const ESP_MIN_ENCRYPTED_LENGTH = 4;
/** Smallest well-formed ESP packet: header ‖ IV ‖ 4 encrypted bytes ‖ ICV = 36 bytes. */
export const ESP_MIN_PACKET_LENGTH = ESP_HEADER_LENGTH + ESP_IV_LENGTH + ESP_MIN_ENCRYPTED_LENGTH + ESP_ICV_LENGTH;
/** Bytes ESP always adds around a payload (header, IV, trailer, ICV); padding adds 0-3 more. */
export const ESP_FIXED_OVERHEAD = ESP_HEADER_LENGTH + ESP_IV_LENGTH + ESP_TRAILER_LENGTH + ESP_ICV_LENGTH;

/** Next Header 59: "no next header", the dummy packet of RFC 4303 §2.6 (traffic flow confidentiality). */
export const ESP_NEXT_HEADER_DUMMY = 59;
/** Next Header 4: an IPv4 packet (tunnel mode). */
export const ESP_NEXT_HEADER_IPV4 = 4;

/** Padding bytes needed so that payload ‖ padding ‖ trailer is a multiple of 4. */
export function espPaddingLength(payloadLength: number): number {
  return (ESP_ALIGNMENT - ((payloadLength + ESP_TRAILER_LENGTH) % ESP_ALIGNMENT)) % ESP_ALIGNMENT;
}

/** Length of the encrypted part (without IV and ICV) for a payload. */
export function espEncryptedLength(payloadLength: number): number {
  return payloadLength + espPaddingLength(payloadLength) + ESP_TRAILER_LENGTH;
}

/** Length of the whole ESP packet (SPI to ICV) for a payload. */
export function espPacketLength(payloadLength: number): number {
  return ESP_HEADER_LENGTH + ESP_IV_LENGTH + espEncryptedLength(payloadLength) + ESP_ICV_LENGTH;
}

/** Writes SPI ‖ sequence number (low 32 bits) at `offset`. */
export function writeEspHeader(buf: Buffer, offset: number, spi: number, seq: number): void {
  buf.writeUInt32BE(spi >>> 0, offset);
  buf.writeUInt32BE(seq >>> 0, offset + 4);
}

/** Writes the 8-byte IV from its high and low 32-bit halves (no BigInt on the hot path). */
export function writeEspIv(buf: Buffer, offset: number, ivHigh: number, ivLow: number): void {
  buf.writeUInt32BE(ivHigh >>> 0, offset);
  buf.writeUInt32BE(ivLow >>> 0, offset + 4);
}

/**
 * Writes padding 1,2,3,… then pad length and next header right after a payload of
 * `payloadLength` bytes that starts at `payloadOffset`. Returns the offset after the trailer.
 */
export function writeEspTrailer(buf: Buffer, payloadOffset: number, payloadLength: number, nextHeader: number): number {
  const padLength = espPaddingLength(payloadLength);
  let p = payloadOffset + payloadLength;
  for (let i = 1; i <= padLength; i++) buf[p++] = i;
  buf[p++] = padLength;
  buf[p++] = nextHeader & 0xff;
  return p;
}

/**
 * Writes the GCM additional authenticated data (RFC 4106 §5): SPI ‖ seq (8 bytes), or with
 * extended sequence numbers SPI ‖ seq high ‖ seq low (12 bytes). Returns the AAD length.
 */
export function writeEspAad(aad: Buffer, spi: number, seqLow: number, seqHigh?: number): number {
  aad.writeUInt32BE(spi >>> 0, 0);
  if (seqHigh === undefined) {
    aad.writeUInt32BE(seqLow >>> 0, 4);
    return 8;
  }
  aad.writeUInt32BE(seqHigh >>> 0, 4);
  aad.writeUInt32BE(seqLow >>> 0, 8);
  return 12;
}

export type EspFramingError = 'truncated' | 'misaligned' | 'bad_padding';

/** A parsed ESP packet: fields and offsets into the caller's buffer (no copies). */
export interface EspPacketView {
  spi: number;
  seq: number;
  /** Offset of the 8-byte IV. */
  ivOffset: number;
  /** Offset and length of the ciphertext (the encrypted payload ‖ padding ‖ trailer). */
  ciphertextOffset: number;
  ciphertextLength: number;
  /** Offset of the 16-byte ICV. */
  icvOffset: number;
}

/** Reads only the SPI; returns -1 when fewer than 4 bytes are there. */
export function peekEspSpi(buf: Uint8Array, offset: number, length: number): number {
  if (length < 4 || offset < 0 || offset + 4 > buf.length) return -1;
  return ((buf[offset]! << 24) | (buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) | buf[offset + 3]!) >>> 0;
}

/**
 * Parses the outer layout of an ESP packet of `length` bytes at `offset`. Lengths are checked
 * before any cryptography: shorter than the minimum → 'truncated'; an encrypted part that does
 * not end on a 4-byte boundary → 'misaligned'. Fills `view` (reusable) and returns null, or
 * returns the error.
 */
export function parseEspPacket(buf: Buffer, offset: number, length: number, view: EspPacketView): EspFramingError | null {
  if (offset < 0 || length < 0 || offset + length > buf.length) return 'truncated';
  if (length < ESP_MIN_PACKET_LENGTH) return 'truncated';
  const ciphertextLength = length - ESP_HEADER_LENGTH - ESP_IV_LENGTH - ESP_ICV_LENGTH;
  if (ciphertextLength % ESP_ALIGNMENT !== 0) return 'misaligned';
  view.spi = buf.readUInt32BE(offset);
  view.seq = buf.readUInt32BE(offset + 4);
  view.ivOffset = offset + ESP_HEADER_LENGTH;
  view.ciphertextOffset = offset + ESP_HEADER_LENGTH + ESP_IV_LENGTH;
  view.ciphertextLength = ciphertextLength;
  view.icvOffset = view.ciphertextOffset + ciphertextLength;
  return null;
}

export function newEspPacketView(): EspPacketView {
  return { spi: 0, seq: 0, ivOffset: 0, ciphertextOffset: 0, ciphertextLength: 0, icvOffset: 0 };
}

/** The decrypted payload's extent once the trailer is removed. */
export interface EspTrailerView {
  payloadLength: number;
  padLength: number;
  nextHeader: number;
}

/**
 * Reads and checks the trailer of a decrypted ESP body (`length` bytes at `offset`: payload ‖
 * padding ‖ pad length ‖ next header). The padding must be exactly 1,2,3,… (RFC 4303 §2.4
 * default content; strongSwan rejects anything else and so do we). Fills `view`, returns null
 * or the error.
 */
export function parseEspTrailer(buf: Uint8Array, offset: number, length: number, view: EspTrailerView): EspFramingError | null {
  if (length < ESP_TRAILER_LENGTH) return 'truncated';
  const padLength = buf[offset + length - 2]!;
  const nextHeader = buf[offset + length - 1]!;
  const payloadLength = length - ESP_TRAILER_LENGTH - padLength;
  if (payloadLength < 0) return 'bad_padding';
  const padStart = offset + payloadLength;
  for (let i = 0; i < padLength; i++) {
    if (buf[padStart + i] !== i + 1) return 'bad_padding';
  }
  view.payloadLength = payloadLength;
  view.padLength = padLength;
  view.nextHeader = nextHeader;
  return null;
}

export function newEspTrailerView(): EspTrailerView {
  return { payloadLength: 0, padLength: 0, nextHeader: 0 };
}
