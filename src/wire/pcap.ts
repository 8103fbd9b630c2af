/**
 * Classic pcap files (libpcap format, microsecond timestamps): a writer that streams records to a
 * file or collects them in memory, and a reader for tests and `overlay-ipsec verify`.
 *
 * Layout: a 24-byte global header (magic 0xa1b2c3d4 in the writer's byte order, version 2.4,
 * snap length, link type), then per packet a 16-byte record header (seconds, microseconds,
 * captured length, original length) and the captured bytes. We write little-endian, as libpcap
 * does on x86; the reader accepts either byte order and the nanosecond variant (0xa1b23c4d).
 *
 * The userspace daemons see UDP payloads, not IP packets; `writeUdp` wraps a payload into a
 * synthetic IPv4+UDP packet (checksums valid) so their captures decode like a wire capture.
 */
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { ETHERNET_HEADER_LENGTH, ETHERTYPE_IPV4, writeEthernetHeader } from './ethernet.js';
import { UDP_HEADER_LENGTH, writeIpv4UdpHeaders } from './udp.js';
import { IPV4_MIN_HEADER_LENGTH } from './ipv4.js';

export const LINKTYPE_ETHERNET = 1;
/** Raw IP: each record is an IPv4 (or IPv6) packet with no link header. */
export const LINKTYPE_RAW = 101;
/** Raw IPv4 only (what scapy's wrpcap writes for IP packets); read like LINKTYPE_RAW. */
export const LINKTYPE_IPV4 = 228;
/** Linux "cooked" captures, what `tcpdump -i any` writes: 16-byte SLL and 20-byte SLL2 headers. */
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_LINUX_SLL2 = 276;

export const PCAP_MAGIC_MICROSECONDS = 0xa1b2c3d4;
export const PCAP_MAGIC_NANOSECONDS = 0xa1b23c4d;
export const PCAP_GLOBAL_HEADER_LENGTH = 24;
export const PCAP_RECORD_HEADER_LENGTH = 16;
export const PCAP_DEFAULT_SNAPLEN = 262144;

export interface PcapWriterOptions {
  /** Longest captured length per record; longer packets are cut (original length kept). */
  snapLength?: number;
  /** Clock for records written without a timestamp: milliseconds since the epoch, may be fractional. */
  now?: () => number;
}

/** Addressing of a synthetic IPv4+UDP packet around a recorded UDP payload. */
export interface PcapUdpAddressing {
  src: number;
  dst: number;
  srcPort: number;
  dstPort: number;
  /** For LINKTYPE_ETHERNET files: MAC addresses as numbers (default 0). */
  srcMac?: number;
  dstMac?: number;
}

const defaultNow = (): number => performance.timeOrigin + performance.now();

/** Writes the pcap stream; subclasses decide where the bytes go. */
export abstract class PcapWriter {
  readonly linkType: number;
  readonly snapLength: number;
  private readonly now: () => number;
  private ipId = 0;
  packets = 0;

  protected constructor(linkType: number, opts: PcapWriterOptions = {}) {
    this.linkType = linkType;
    this.snapLength = opts.snapLength ?? PCAP_DEFAULT_SNAPLEN;
    this.now = opts.now ?? defaultNow;
    const h = Buffer.alloc(PCAP_GLOBAL_HEADER_LENGTH);
    h.writeUInt32LE(PCAP_MAGIC_MICROSECONDS, 0);
    h.writeUInt16LE(2, 4);
    h.writeUInt16LE(4, 6);
    h.writeInt32LE(0, 8); // thiszone: timestamps are UTC
    h.writeUInt32LE(0, 12); // sigfigs
    h.writeUInt32LE(this.snapLength, 16);
    h.writeUInt32LE(linkType, 20);
    // The header is emitted by the subclass constructor through start(): emit() may use fields
    // the subclass has not initialised yet at this point.
    this.header = h;
  }

  private header: Buffer | null;

  /** Emits the global header; subclasses call it at the end of their constructor. */
  protected start(): void {
    if (this.header) this.emit(this.header);
    this.header = null;
  }

  protected abstract emit(chunk: Buffer): void;

  /**
   * Records one packet (a link-layer frame for LINKTYPE_ETHERNET, an IP packet for LINKTYPE_RAW).
   * The bytes are copied: the caller may reuse its buffer at once.
   */
  writePacket(data: Uint8Array, timestampMs: number = this.now(), originalLength: number = data.length): void {
    const captured = Math.min(data.length, this.snapLength);
    const rec = Buffer.allocUnsafe(PCAP_RECORD_HEADER_LENGTH + captured);
    this.writeRecordHeader(rec, timestampMs, captured, originalLength);
    rec.set(data.subarray(0, captured), PCAP_RECORD_HEADER_LENGTH);
    this.emit(rec);
    this.packets++;
  }

  /**
   * Records a UDP payload as the IPv4+UDP packet it travelled in (with an all-zero Ethernet
   * header in LINKTYPE_ETHERNET files unless MACs are given). IP and UDP checksums are valid.
   */
  writeUdp(payload: Uint8Array, a: PcapUdpAddressing, timestampMs: number = this.now()): void {
    const link = this.linkType === LINKTYPE_ETHERNET ? ETHERNET_HEADER_LENGTH : 0;
    const packetLength = link + IPV4_MIN_HEADER_LENGTH + UDP_HEADER_LENGTH + payload.length;
    const captured = Math.min(packetLength, this.snapLength);
    // Build the whole packet (checksums need the full payload), then cut to the snap length.
    const rec = Buffer.allocUnsafe(PCAP_RECORD_HEADER_LENGTH + packetLength);
    const p = PCAP_RECORD_HEADER_LENGTH;
    if (link) writeEthernetHeader(rec, p, a.dstMac ?? 0, a.srcMac ?? 0, ETHERTYPE_IPV4);
    rec.set(payload, p + link + IPV4_MIN_HEADER_LENGTH + UDP_HEADER_LENGTH);
    this.ipId = (this.ipId + 1) & 0xffff;
    writeIpv4UdpHeaders(rec, p + link, { src: a.src, dst: a.dst, srcPort: a.srcPort, dstPort: a.dstPort, identification: this.ipId, dontFragment: true }, payload.length);
    this.writeRecordHeader(rec, timestampMs, captured, packetLength);
    this.emit(captured === packetLength ? rec : rec.subarray(0, PCAP_RECORD_HEADER_LENGTH + captured));
    this.packets++;
  }

  private writeRecordHeader(rec: Buffer, timestampMs: number, captured: number, originalLength: number): void {
    const totalUs = Math.round(timestampMs * 1000);
    const sec = Math.floor(totalUs / 1e6);
    rec.writeUInt32LE(sec >>> 0, 0);
    rec.writeUInt32LE(totalUs - sec * 1e6, 4);
    rec.writeUInt32LE(captured, 8);
    rec.writeUInt32LE(originalLength, 12);
  }
}

/** Collects the pcap stream in memory. */
export class PcapBufferWriter extends PcapWriter {
  private chunks: Buffer[] = [];

  constructor(linkType: number, opts: PcapWriterOptions = {}) {
    super(linkType, opts);
    this.start();
  }

  protected emit(chunk: Buffer): void {
    this.chunks.push(chunk);
  }

  /** The file contents so far. */
  toBuffer(): Buffer {
    if (this.chunks.length !== 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!;
  }
}

/**
 * Streams the pcap to a file through a buffered write stream (no synchronous disk I/O on the
 * packet path). Call `close()` and await it before reading the file.
 */
export class PcapFileWriter extends PcapWriter {
  readonly path: string;
  private readonly stream: WriteStream;
  private failure: Error | null = null;

  constructor(path: string, linkType: number, opts: PcapWriterOptions = {}) {
    super(linkType, opts);
    this.path = path;
    this.stream = createWriteStream(path);
    // A stream error (disk full, directory gone) must not crash the daemon: remember it, stop writing.
    this.stream.on('error', (e) => {
      this.failure = e;
    });
    this.start();
  }

  /** The write error, if the file could not be written. */
  get error(): Error | null {
    return this.failure;
  }

  protected emit(chunk: Buffer): void {
    if (this.failure === null) this.stream.write(chunk);
  }

  /** Flushes and closes the file; rejects if a write failed. */
  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.failure) {
        this.stream.destroy();
        reject(this.failure);
        return;
      }
      // 'close' follows both a clean finish and an error (autoDestroy), with `failure` set by then.
      this.stream.once('close', () => (this.failure ? reject(this.failure) : resolve()));
      this.stream.end();
    });
  }
}

// ---- reader ----

export type PcapParseError =
  /** Shorter than the 24-byte global header. */
  | 'truncated_header'
  /** Not a classic pcap magic number (pcapng and others are not read here). */
  | 'bad_magic';

export interface PcapPacket {
  /** Milliseconds since the epoch (fractional). */
  timestampMs: number;
  seconds: number;
  /** Microseconds, or nanoseconds in a nanosecond file. */
  fraction: number;
  /** The captured bytes (a view into the file buffer). */
  data: Buffer;
  originalLength: number;
}

export interface PcapCapture {
  linkType: number;
  snapLength: number;
  nanosecond: boolean;
  bigEndian: boolean;
  versionMajor: number;
  versionMinor: number;
  packets: PcapPacket[];
  /** True when the last record was cut short (a capture still being written, or damaged). */
  truncated: boolean;
}

/** Parses a whole classic pcap file held in memory. */
export function parsePcap(buf: Buffer): PcapCapture | PcapParseError {
  if (buf.length < PCAP_GLOBAL_HEADER_LENGTH) return 'truncated_header';
  const le = buf.readUInt32LE(0);
  let bigEndian: boolean;
  let nanosecond: boolean;
  if (le === PCAP_MAGIC_MICROSECONDS || le === PCAP_MAGIC_NANOSECONDS) {
    bigEndian = false;
    nanosecond = le === PCAP_MAGIC_NANOSECONDS;
  } else {
    const be = buf.readUInt32BE(0);
    if (be !== PCAP_MAGIC_MICROSECONDS && be !== PCAP_MAGIC_NANOSECONDS) return 'bad_magic';
    bigEndian = true;
    nanosecond = be === PCAP_MAGIC_NANOSECONDS;
  }
  const u16 = (o: number): number => (bigEndian ? buf.readUInt16BE(o) : buf.readUInt16LE(o));
  const u32 = (o: number): number => (bigEndian ? buf.readUInt32BE(o) : buf.readUInt32LE(o));
  const capture: PcapCapture = {
    linkType: u32(20) & 0x0fffffff, // upper bits: FCS length flags (pcap-linktype(7))
    snapLength: u32(16),
    nanosecond,
    bigEndian,
    versionMajor: u16(4),
    versionMinor: u16(6),
    packets: [],
    truncated: false,
  };
  const divisor = nanosecond ? 1e6 : 1e3;
  let p = PCAP_GLOBAL_HEADER_LENGTH;
  while (p < buf.length) {
    if (p + PCAP_RECORD_HEADER_LENGTH > buf.length) {
      capture.truncated = true;
      break;
    }
    const seconds = u32(p);
    const fraction = u32(p + 4);
    const captured = u32(p + 8);
    const originalLength = u32(p + 12);
    const start = p + PCAP_RECORD_HEADER_LENGTH;
    if (start + captured > buf.length) {
      capture.truncated = true;
      break;
    }
    capture.packets.push({ timestampMs: seconds * 1000 + fraction / divisor, seconds, fraction, data: buf.subarray(start, start + captured), originalLength });
    p = start + captured;
  }
  return capture;
}

/** Reads and parses a pcap file (synchronously: for tests and the `verify` command, not the data path). */
export function readPcapFile(path: string): PcapCapture | PcapParseError {
  return parsePcap(readFileSync(path));
}

/**
 * Where the IPv4 packet starts inside a captured frame of the given link type, or -1 when the
 * frame does not carry IPv4 (ARP, IPv6, an unknown link type, a frame too short to tell).
 * Handles Ethernet (with one 802.1Q tag), raw IP, and Linux cooked captures (SLL, SLL2).
 */
export function ipv4OffsetInFrame(linkType: number, frame: Uint8Array): number {
  const u16 = (o: number): number => (frame[o]! << 8) | frame[o + 1]!;
  switch (linkType) {
    case LINKTYPE_RAW:
    case LINKTYPE_IPV4:
      return frame.length >= 1 && frame[0]! >> 4 === 4 ? 0 : -1;
    case LINKTYPE_ETHERNET: {
      if (frame.length < ETHERNET_HEADER_LENGTH) return -1;
      let type = u16(12);
      let off = ETHERNET_HEADER_LENGTH;
      if (type === 0x8100) {
        if (frame.length < off + 4) return -1;
        type = u16(16);
        off += 4;
      }
      return type === ETHERTYPE_IPV4 && frame.length > off ? off : -1;
    }
    case LINKTYPE_LINUX_SLL:
      return frame.length > 16 && u16(14) === ETHERTYPE_IPV4 ? 16 : -1;
    case LINKTYPE_LINUX_SLL2:
      return frame.length > 20 && u16(0) === ETHERTYPE_IPV4 ? 20 : -1;
    default:
      return -1;
  }
}
