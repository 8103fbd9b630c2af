/**
 * Ethernet II header: destination MAC (6), source MAC (6), EtherType (2); optionally one IEEE
 * 802.1Q tag (TPID 0x8100, TCI) before the EtherType.
 *
 * MAC addresses are handled as plain numbers (48 bits fit exactly in a double), so that reading
 * a frame allocates nothing; `formatMac`/`parseMac` convert to and from "aa:bb:cc:dd:ee:ff".
 */

export const ETHERNET_HEADER_LENGTH = 14;
export const ETHERNET_VLAN_TAG_LENGTH = 4;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_IPV6 = 0x86dd;
/** Transparent Ethernet Bridging: the Geneve protocol type of an inner Ethernet frame. */
export const ETHERTYPE_TEB = 0x6558;

export const MAC_BROADCAST = 0xffffffffffff;

export type EthernetParseError =
  /** Shorter than 14 bytes (18 with a VLAN tag). */
  | 'truncated'
  /** A length field (< 0x0600, IEEE 802.3 framing) where Ethernet II needs an EtherType. */
  | 'not_ethernet_ii';

export interface EthernetHeader {
  offset: number;
  dst: number;
  src: number;
  /** The EtherType of the payload (after a VLAN tag, if any). */
  etherType: number;
  /** The 12-bit VLAN id, or -1 when the frame is untagged. */
  vlanId: number;
  /** 14, or 18 with a VLAN tag. */
  headerLength: number;
  payloadOffset: number;
  payloadLength: number;
}

export function newEthernetHeader(): EthernetHeader {
  return { offset: 0, dst: 0, src: 0, etherType: 0, vlanId: -1, headerLength: 0, payloadOffset: 0, payloadLength: 0 };
}

/** Parses the Ethernet II header of the frame buf[offset, offset + length). */
export function parseEthernetHeader(
  buf: Uint8Array,
  offset = 0,
  length: number = buf.length - offset,
  into?: EthernetHeader,
): EthernetHeader | EthernetParseError {
  if (length < ETHERNET_HEADER_LENGTH || offset < 0 || offset + length > buf.length) return 'truncated';
  let etherType = (buf[offset + 12]! << 8) | buf[offset + 13]!;
  let headerLength = ETHERNET_HEADER_LENGTH;
  let vlanId = -1;
  if (etherType === ETHERTYPE_VLAN) {
    if (length < ETHERNET_HEADER_LENGTH + ETHERNET_VLAN_TAG_LENGTH) return 'truncated';
    vlanId = ((buf[offset + 14]! << 8) | buf[offset + 15]!) & 0x0fff;
    etherType = (buf[offset + 16]! << 8) | buf[offset + 17]!;
    headerLength += ETHERNET_VLAN_TAG_LENGTH;
  }
  if (etherType < 0x0600) return 'not_ethernet_ii';
  const h = into ?? newEthernetHeader();
  h.offset = offset;
  h.dst = readMac(buf, offset);
  h.src = readMac(buf, offset + 6);
  h.etherType = etherType;
  h.vlanId = vlanId;
  h.headerLength = headerLength;
  h.payloadOffset = offset + headerLength;
  h.payloadLength = length - headerLength;
  return h;
}

/** Writes a 14-byte untagged Ethernet II header and returns 14. */
export function writeEthernetHeader(buf: Uint8Array, offset: number, dst: number, src: number, etherType: number): number {
  if (offset < 0 || offset + ETHERNET_HEADER_LENGTH > buf.length) throw new RangeError('Ethernet header does not fit the buffer');
  writeMac(buf, offset, dst);
  writeMac(buf, offset + 6, src);
  buf[offset + 12] = (etherType >>> 8) & 0xff;
  buf[offset + 13] = etherType & 0xff;
  return ETHERNET_HEADER_LENGTH;
}

/** Reads a 6-byte MAC address as a number. */
export function readMac(buf: Uint8Array, offset: number): number {
  const hi = (buf[offset]! << 8) | buf[offset + 1]!;
  const lo = ((buf[offset + 2]! << 24) | (buf[offset + 3]! << 16) | (buf[offset + 4]! << 8) | buf[offset + 5]!) >>> 0;
  return hi * 0x100000000 + lo;
}

/** Writes a MAC address number as 6 bytes. */
export function writeMac(buf: Uint8Array, offset: number, mac: number): void {
  const hi = Math.floor(mac / 0x100000000);
  const lo = mac >>> 0;
  buf[offset] = (hi >>> 8) & 0xff;
  buf[offset + 1] = hi & 0xff;
  buf[offset + 2] = lo >>> 24;
  buf[offset + 3] = (lo >>> 16) & 0xff;
  buf[offset + 4] = (lo >>> 8) & 0xff;
  buf[offset + 5] = lo & 0xff;
}

/** "aa:bb:cc:dd:ee:ff" (lower case). */
export function formatMac(mac: number): string {
  let s = '';
  for (let shift = 40; shift >= 0; shift -= 8) {
    const byte = Math.floor(mac / 2 ** shift) & 0xff;
    s += (shift === 40 ? '' : ':') + (byte < 16 ? '0' : '') + byte.toString(16);
  }
  return s;
}

/** Parses "aa:bb:cc:dd:ee:ff" or "aa-bb-cc-dd-ee-ff"; null when it is not a MAC address. */
export function parseMac(text: string): number | null {
  const m = /^([0-9a-fA-F]{2})([:-])([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})$/.exec(text);
  if (!m) return null;
  let v = 0;
  for (const i of [1, 3, 4, 5, 6, 7]) v = v * 256 + parseInt(m[i]!, 16);
  return v;
}

/** The group bit (I/G) of the first octet: broadcast and multicast destinations. */
export function isMulticastMac(mac: number): boolean {
  return (Math.floor(mac / 0x10000000000) & 0x01) === 1;
}
