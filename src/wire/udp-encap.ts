/**
 * UDP encapsulation of ESP and IKE on port 4500 (RFC 3948 §2, RFC 7296 §2.23).
 *
 * A datagram received on 4500 is exactly one of:
 *   - a NAT-keepalive: the single octet 0xFF (RFC 3948 §2.3);
 *   - an IKE message behind the 4-byte non-ESP marker (four zero octets, where ESP would have its
 *     SPI, which is never zero on the wire: RFC 4303 §2.1);
 *   - an ESP packet starting with its non-zero SPI.
 * Anything else (empty, 2-3 bytes, a 1-byte datagram that is not 0xFF, too short to hold the
 * smallest IKE header or ESP packet) is malformed and dropped by the caller, counted by cause.
 */

export const IKE_UDP_PORT = 500;
export const NAT_T_UDP_PORT = 4500;
export const NON_ESP_MARKER_LENGTH = 4;
export const NAT_KEEPALIVE_OCTET = 0xff;
/** The fixed IKE header (RFC 7296 §3.1). */
export const IKE_HEADER_LENGTH = 28;
/**
 * Smallest ESP packet this data path can accept: SPI (4) ‖ seq (4) ‖ IV (8) ‖ 4 encrypted bytes
 * (padding to 4 with pad length and next header) ‖ 16-byte ICV — AES-GCM-16 (RFC 4106).
 */
export const ESP_GCM16_MIN_LENGTH = 4 + 4 + 8 + 4 + 16;

export type UdpEncapKind = 'keepalive' | 'ike' | 'esp' | 'malformed';

export type UdpEncapMalformed =
  | 'empty'
  /** One octet that is not 0xFF. */
  | 'bad_keepalive'
  /** 2 or 3 octets: neither a keepalive, a marker, nor ESP. */
  | 'runt'
  /** Non-ESP marker followed by fewer than 28 bytes. */
  | 'ike_truncated'
  /** A non-zero SPI but fewer bytes than the smallest ESP packet. */
  | 'esp_truncated';

export interface UdpEncapClass {
  kind: UdpEncapKind;
  /** Where the IKE message or ESP packet starts in the buffer (after the marker for IKE). */
  offset: number;
  length: number;
  /** The ESP SPI (unsigned), 0 for other kinds. */
  spi: number;
  /** Why the datagram is malformed; null for the other kinds. */
  cause: UdpEncapMalformed | null;
}

export function newUdpEncapClass(): UdpEncapClass {
  return { kind: 'malformed', offset: 0, length: 0, spi: 0, cause: null };
}

/**
 * Classifies the UDP payload buf[offset, offset + length) received on port 4500.
 * `minEspLength` defaults to the AES-GCM-16 minimum; pass the SA suite's minimum if it differs.
 */
export function classifyUdpEncap(
  buf: Uint8Array,
  offset: number,
  length: number,
  into?: UdpEncapClass,
  minEspLength = ESP_GCM16_MIN_LENGTH,
): UdpEncapClass {
  const r = into ?? newUdpEncapClass();
  r.offset = offset;
  r.length = length;
  r.spi = 0;
  r.cause = null;
  if (length <= 0 || offset < 0 || offset + length > buf.length) return malformed(r, 'empty');
  if (length === 1) {
    if (buf[offset] === NAT_KEEPALIVE_OCTET) {
      r.kind = 'keepalive';
      return r;
    }
    return malformed(r, 'bad_keepalive');
  }
  if (length < NON_ESP_MARKER_LENGTH) return malformed(r, 'runt');
  const spi = ((buf[offset]! << 24) | (buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) | buf[offset + 3]!) >>> 0;
  if (spi === 0) {
    if (length - NON_ESP_MARKER_LENGTH < IKE_HEADER_LENGTH) return malformed(r, 'ike_truncated');
    r.kind = 'ike';
    r.offset = offset + NON_ESP_MARKER_LENGTH;
    r.length = length - NON_ESP_MARKER_LENGTH;
    return r;
  }
  if (length < minEspLength) {
    r.spi = spi;
    return malformed(r, 'esp_truncated');
  }
  r.kind = 'esp';
  r.spi = spi;
  return r;
}

function malformed(r: UdpEncapClass, cause: UdpEncapMalformed): UdpEncapClass {
  r.kind = 'malformed';
  r.cause = cause;
  return r;
}

/** Writes the 4-byte non-ESP marker at `offset`; the IKE message goes at `offset + 4`. Returns 4. */
export function writeNonEspMarker(buf: Uint8Array, offset: number): number {
  buf[offset] = 0;
  buf[offset + 1] = 0;
  buf[offset + 2] = 0;
  buf[offset + 3] = 0;
  return NON_ESP_MARKER_LENGTH;
}

/** A new datagram payload: non-ESP marker ‖ IKE message, for sending IKE on port 4500. */
export function prependNonEspMarker(ikeMessage: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(NON_ESP_MARKER_LENGTH + ikeMessage.length);
  writeNonEspMarker(out, 0);
  out.set(ikeMessage, NON_ESP_MARKER_LENGTH);
  return out;
}

/**
 * For a plain socket (one datagram per call): the IKE message in a datagram received on
 * `localPort` — on 4500 the bytes behind the non-ESP marker, null when the datagram is not IKE
 * (a keepalive, ESP, junk); on any other port the datagram itself.
 */
export function ikeMessageOf(datagram: Buffer, localPort: number): Buffer | null {
  if (localPort !== NAT_T_UDP_PORT) return datagram;
  const c = classifyUdpEncap(datagram, 0, datagram.length);
  return c.kind === 'ike' ? datagram.subarray(c.offset, c.offset + c.length) : null;
}

/** The UDP payload that carries an IKE message sent from `localPort` (marker first on 4500). */
export function ikeDatagramOf(message: Uint8Array, localPort: number): Buffer {
  return localPort === NAT_T_UDP_PORT ? prependNonEspMarker(message) : Buffer.from(message.buffer, message.byteOffset, message.byteLength);
}

/** A new NAT-keepalive datagram payload (the single octet 0xFF). */
export function natKeepalive(): Buffer {
  return Buffer.from([NAT_KEEPALIVE_OCTET]);
}
