/**
 * Geneve (RFC 8926) header parse/build.
 *
 *    0                   1                   2                   3
 *   |Ver|  Opt Len  |O|C|    Rsvd.  |          Protocol Type        |
 *   |        Virtual Network Identifier (VNI)       |    Reserved   |
 *   |                    Variable-Length Options                    |
 *
 * Each option: Option Class (16) | Type (8, high bit = critical) | R R R | Length (5, in 4-byte
 * words, excluding the 4-byte option header) | data.
 *
 * OVN sends protocol type 0x6558 (Transparent Ethernet Bridging, an inner Ethernet frame) and one
 * critical option of class 0x0102 type 0x80 carrying its logical port keys; OVN_OPTION_* names it
 * so that a receiver can declare it understood.
 *
 * What RFC 8926 makes the receiver reject, and what this parser reports:
 *   - a version other than 0 ("MUST be dropped", §3.4)      → 'bad_version'
 *   - options that overrun Opt Len or the packet              → 'bad_option_length' / 'truncated'
 *   - a critical option the receiver does not process (§3.5) → 'unknown_critical_option', with the
 *     option's class and type left in the result object for the drop counter / log.
 * The O bit (control packet) is reported as `oam`; its payload must not be forwarded as data (§3.4),
 * which is the overlay's decision, not the codec's.
 */

export const GENEVE_UDP_PORT = 6081;
export const GENEVE_VERSION = 0;
export const GENEVE_HEADER_LENGTH = 8;
export const GENEVE_OPTION_HEADER_LENGTH = 4;
/** Opt Len is 6 bits of 4-byte words. */
export const GENEVE_MAX_OPTIONS_LENGTH = 63 * 4;
/** An option's Length is 5 bits of 4-byte words. */
export const GENEVE_MAX_OPTION_DATA_LENGTH = 31 * 4;
export const GENEVE_OPTION_CRITICAL = 0x80;

/** Protocol types (EtherType values). */
export const GENEVE_PROTO_ETHERNET = 0x6558;
export const GENEVE_PROTO_IPV4 = 0x0800;

/** OVN's Geneve option (critical): class 0x0102, type 0x80, 4 bytes of logical port keys. */
export const OVN_OPTION_CLASS = 0x0102;
export const OVN_OPTION_TYPE = 0x80;

export type GeneveParseError =
  | 'truncated'
  | 'bad_version'
  | 'bad_option_length'
  | 'unknown_critical_option';

export interface GeneveHeader {
  offset: number;
  version: number;
  /** O bit: a control (OAM) packet. */
  oam: boolean;
  /** C bit: the sender says critical options are present. */
  criticalFlag: boolean;
  protocolType: number;
  vni: number;
  /** Offset and total length of the options area. */
  optionsOffset: number;
  optionsLength: number;
  optionCount: number;
  criticalOptionCount: number;
  /** 8 + options. */
  headerLength: number;
  payloadOffset: number;
  payloadLength: number;
  /** Set when the result is 'unknown_critical_option' (and `into` was given); -1 otherwise. */
  rejectedOptionClass: number;
  rejectedOptionType: number;
}

export function newGeneveHeader(): GeneveHeader {
  return {
    offset: 0, version: 0, oam: false, criticalFlag: false, protocolType: 0, vni: 0, optionsOffset: 0,
    optionsLength: 0, optionCount: 0, criticalOptionCount: 0, headerLength: 0, payloadOffset: 0,
    payloadLength: 0, rejectedOptionClass: -1, rejectedOptionType: -1,
  };
}

/**
 * Which options the receiver processes. Pass a function created once (not per packet); the
 * default understands none, so any critical option makes the packet 'unknown_critical_option'.
 */
export type GeneveOptionFilter = (optionClass: number, type: number) => boolean;

const understandsNothing: GeneveOptionFilter = () => false;

/** Understands OVN's option and nothing else: what an OVN-compatible endpoint declares. */
export const understandsOvnOption: GeneveOptionFilter = (optionClass, type) =>
  optionClass === OVN_OPTION_CLASS && type === OVN_OPTION_TYPE;

/**
 * Parses the Geneve header at `offset` (the UDP payload); `length` is the UDP payload length.
 * Walks every option to check its framing and its critical bit against `understands`.
 */
export function parseGeneveHeader(
  buf: Uint8Array,
  offset: number,
  length: number,
  understands: GeneveOptionFilter = understandsNothing,
  into?: GeneveHeader,
): GeneveHeader | GeneveParseError {
  if (length < GENEVE_HEADER_LENGTH || offset < 0 || offset + length > buf.length) return 'truncated';
  const b0 = buf[offset]!;
  const version = b0 >> 6;
  if (version !== GENEVE_VERSION) return 'bad_version';
  const optionsLength = (b0 & 0x3f) * 4;
  const headerLength = GENEVE_HEADER_LENGTH + optionsLength;
  if (headerLength > length) return 'truncated';
  const optionsOffset = offset + GENEVE_HEADER_LENGTH;
  const optionsEnd = optionsOffset + optionsLength;
  let count = 0;
  let critical = 0;
  for (let p = optionsOffset; p < optionsEnd; ) {
    if (p + GENEVE_OPTION_HEADER_LENGTH > optionsEnd) return 'bad_option_length';
    const next = p + GENEVE_OPTION_HEADER_LENGTH + (buf[p + 3]! & 0x1f) * 4;
    if (next > optionsEnd) return 'bad_option_length';
    const type = buf[p + 2]!;
    count++;
    if (type & GENEVE_OPTION_CRITICAL) {
      critical++;
      const optionClass = (buf[p]! << 8) | buf[p + 1]!;
      if (!understands(optionClass, type)) {
        if (into) {
          into.rejectedOptionClass = optionClass;
          into.rejectedOptionType = type;
        }
        return 'unknown_critical_option';
      }
    }
    p = next;
  }
  const h = into ?? newGeneveHeader();
  h.offset = offset;
  h.version = version;
  h.oam = (buf[offset + 1]! & 0x80) !== 0;
  h.criticalFlag = (buf[offset + 1]! & 0x40) !== 0;
  h.protocolType = (buf[offset + 2]! << 8) | buf[offset + 3]!;
  h.vni = (buf[offset + 4]! << 16) | (buf[offset + 5]! << 8) | buf[offset + 6]!;
  h.optionsOffset = optionsOffset;
  h.optionsLength = optionsLength;
  h.optionCount = count;
  h.criticalOptionCount = critical;
  h.headerLength = headerLength;
  h.payloadOffset = offset + headerLength;
  h.payloadLength = length - headerLength;
  h.rejectedOptionClass = -1;
  h.rejectedOptionType = -1;
  return h;
}

/** One option, as read by `readGeneveOption`. */
export interface GeneveOption {
  offset: number;
  optionClass: number;
  /** The full type byte, critical bit included. */
  type: number;
  critical: boolean;
  dataOffset: number;
  dataLength: number;
  /** Offset of the next option (equal to the options' end after the last one). */
  next: number;
}

export function newGeneveOption(): GeneveOption {
  return { offset: 0, optionClass: 0, type: 0, critical: false, dataOffset: 0, dataLength: 0, next: 0 };
}

/**
 * Reads the option at `offset`, which must lie inside [header.optionsOffset, optionsEnd). Iterate
 * with `for (let p = h.optionsOffset; p < h.optionsOffset + h.optionsLength; p = opt.next)`.
 */
export function readGeneveOption(buf: Uint8Array, offset: number, optionsEnd: number, into?: GeneveOption): GeneveOption | 'bad_option_length' {
  if (offset + GENEVE_OPTION_HEADER_LENGTH > optionsEnd || optionsEnd > buf.length) return 'bad_option_length';
  const dataLength = (buf[offset + 3]! & 0x1f) * 4;
  const next = offset + GENEVE_OPTION_HEADER_LENGTH + dataLength;
  if (next > optionsEnd) return 'bad_option_length';
  const o = into ?? newGeneveOption();
  o.offset = offset;
  o.optionClass = (buf[offset]! << 8) | buf[offset + 1]!;
  o.type = buf[offset + 2]!;
  o.critical = (o.type & GENEVE_OPTION_CRITICAL) !== 0;
  o.dataOffset = offset + GENEVE_OPTION_HEADER_LENGTH;
  o.dataLength = dataLength;
  o.next = next;
  return o;
}

/** An option to write. `type` includes the critical bit (0x80) when the option is critical. */
export interface GeneveOptionFields {
  optionClass: number;
  type: number;
  /** A multiple of 4 bytes, at most 124. */
  data: Uint8Array;
}

export interface GeneveFields {
  vni: number;
  /** Default 0x6558 (an inner Ethernet frame). */
  protocolType?: number;
  oam?: boolean;
  options?: readonly GeneveOptionFields[];
}

/** Bytes the header with these options occupies. */
export function geneveHeaderLength(options?: readonly GeneveOptionFields[]): number {
  let n = GENEVE_HEADER_LENGTH;
  if (options) for (const o of options) n += GENEVE_OPTION_HEADER_LENGTH + o.data.length;
  return n;
}

/**
 * Writes the Geneve header (and options) at `offset`; the payload follows at the returned length.
 * The C bit is set exactly when an option is critical. Throws RangeError on unencodable fields.
 */
export function writeGeneveHeader(buf: Uint8Array, offset: number, f: GeneveFields): number {
  if (!Number.isInteger(f.vni) || f.vni < 0 || f.vni > 0xffffff) throw new RangeError(`Geneve VNI ${f.vni} does not fit 24 bits`);
  const headerLength = geneveHeaderLength(f.options);
  const optionsLength = headerLength - GENEVE_HEADER_LENGTH;
  if (optionsLength > GENEVE_MAX_OPTIONS_LENGTH) throw new RangeError(`Geneve options of ${optionsLength} bytes exceed 252`);
  if (offset < 0 || offset + headerLength > buf.length) throw new RangeError('Geneve header does not fit the buffer');
  const protocolType = f.protocolType ?? GENEVE_PROTO_ETHERNET;
  let anyCritical = false;
  let p = offset + GENEVE_HEADER_LENGTH;
  if (f.options) {
    for (const o of f.options) {
      if (o.data.length % 4 !== 0 || o.data.length > GENEVE_MAX_OPTION_DATA_LENGTH) {
        throw new RangeError(`Geneve option data must be a multiple of 4 bytes up to 124, got ${o.data.length}`);
      }
      buf[p] = (o.optionClass >>> 8) & 0xff;
      buf[p + 1] = o.optionClass & 0xff;
      buf[p + 2] = o.type & 0xff;
      buf[p + 3] = o.data.length / 4; // R bits zero
      buf.set(o.data, p + GENEVE_OPTION_HEADER_LENGTH);
      if (o.type & GENEVE_OPTION_CRITICAL) anyCritical = true;
      p += GENEVE_OPTION_HEADER_LENGTH + o.data.length;
    }
  }
  buf[offset] = (GENEVE_VERSION << 6) | (optionsLength / 4);
  buf[offset + 1] = (f.oam ? 0x80 : 0) | (anyCritical ? 0x40 : 0);
  buf[offset + 2] = (protocolType >>> 8) & 0xff;
  buf[offset + 3] = protocolType & 0xff;
  buf[offset + 4] = (f.vni >>> 16) & 0xff;
  buf[offset + 5] = (f.vni >>> 8) & 0xff;
  buf[offset + 6] = f.vni & 0xff;
  buf[offset + 7] = 0;
  return headerLength;
}
