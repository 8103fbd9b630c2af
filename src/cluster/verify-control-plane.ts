import { IPPROTO_TCP, newIpv4Header, parseIpv4Header } from '../wire/ipv4.js';
import { formatIpv4 } from '../wire/address.js';
import { ipv4OffsetInFrame } from '../wire/pcap.js';

/**
 * `verify`'s judge of control-plane traffic (with `up --store etcd`): packets between a node (or
 * the operator's address) and an etcd member, or between members. They must be TCP to the
 * members' client or peer port carrying TLS. A TCP stream is followed by sequence number and cut
 * into TLS records (5-byte header: content type 20-23, version 3.x, length ≤ 2^14 + 2048); a
 * segment whose bytes at a record boundary are not a record header is cleartext. A stream whose
 * first segment in the capture starts inside a record cannot be judged until a segment begins at
 * a header: those segments are counted as unsynced, never as TLS. Pure: frames in, counts out.
 */

export interface ControlPlaneCounts {
  /** TCP segments of TLS streams: records, or bare ACK/SYN/FIN. */
  tls: number;
  /** Segments of streams not yet synchronised to a record boundary. */
  unsynced: number;
  /** Bytes at a record boundary that are not TLS, or anything but TCP to the etcd ports. */
  cleartext: number;
}

const MAX_RECORD = (1 << 14) + 2048;

interface Stream {
  /** The sequence number where the next record header starts. */
  next: number;
}

const ip = newIpv4Header();

/** 32-bit sequence arithmetic: a - b as a signed difference. */
function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/**
 * Walks records in `payload[from..]`; the offset just past the last whole record header's
 * record, or -1 when the bytes at a boundary are not a TLS record header. A header cut by the
 * segment's end returns `null` (the stream must resynchronise).
 */
function walkRecords(frame: Uint8Array, off: number, len: number, from: number): number | null {
  let pos = from;
  while (pos < len) {
    if (len - pos < 5) return null;
    const type = frame[off + pos]!;
    const major = frame[off + pos + 1]!;
    const length = (frame[off + pos + 3]! << 8) | frame[off + pos + 4]!;
    if (type < 20 || type > 23 || major !== 3 || length > MAX_RECORD) return -1;
    pos += 5 + length;
  }
  return pos;
}

export class ControlPlaneJudge {
  readonly counts: ControlPlaneCounts = { tls: 0, unsynced: 0, cleartext: 0 };
  /** Per "src:port>dst:port", the pair counts for the report. */
  readonly pairs: Record<string, ControlPlaneCounts> = {};
  private readonly streams = new Map<string, Stream>();

  constructor(
    private readonly nodes: ReadonlySet<number>,
    private readonly controlPlane: ReadonlySet<number>,
    private readonly ports: ReadonlySet<number>,
  ) {}

  /** Judges a frame if it is control-plane traffic; false when it is not (left to the caller). */
  judge(linkType: number, frame: Uint8Array): boolean {
    const o = ipv4OffsetInFrame(linkType, frame);
    if (o < 0) return false;
    const h = parseIpv4Header(frame, o, frame.length - o, false, ip);
    if (typeof h === 'string') return false;
    const srcCp = this.controlPlane.has(h.src);
    const dstCp = this.controlPlane.has(h.dst);
    if (!(srcCp && (dstCp || this.nodes.has(h.dst))) && !(dstCp && this.nodes.has(h.src))) return false;
    const pair = `${formatIpv4(h.src)}>${formatIpv4(h.dst)}`;
    this.count(pair, this.tcpVerdict(frame, h));
    return true;
  }

  private count(pair: string, v: keyof ControlPlaneCounts): void {
    this.counts[v]++;
    (this.pairs[pair] ??= { tls: 0, unsynced: 0, cleartext: 0 })[v]++;
  }

  private tcpVerdict(frame: Uint8Array, h: { protocol: number; src: number; dst: number; payloadOffset: number; payloadLength: number; fragmentOffset: number }): keyof ControlPlaneCounts {
    if (h.protocol !== IPPROTO_TCP || h.fragmentOffset !== 0 || h.payloadLength < 20) return 'cleartext';
    const t = h.payloadOffset;
    const sport = (frame[t]! << 8) | frame[t + 1]!;
    const dport = (frame[t + 2]! << 8) | frame[t + 3]!;
    if (!this.ports.has(sport) && !this.ports.has(dport)) return 'cleartext';
    const seq = ((frame[t + 4]! << 24) | (frame[t + 5]! << 16) | (frame[t + 6]! << 8) | frame[t + 7]!) >>> 0;
    const dataOff = (frame[t + 12]! >> 4) * 4;
    const off = t + dataOff;
    const len = h.payloadLength - dataOff;
    if (len <= 0) return 'tls';
    const key = `${h.src}:${sport}>${h.dst}:${dport}`;
    const s = this.streams.get(key);
    if (s) {
      const into = seqDiff(s.next, seq);
      // Bytes already judged (a retransmission), or still inside the current record.
      if (seqDiff(seq + len, s.next) <= 0) return 'tls';
      if (into >= 0) {
        const end = walkRecords(frame, off, len, into);
        if (end === -1) return 'cleartext';
        if (end === null) {
          this.streams.delete(key);
          return 'tls';
        }
        s.next = (seq + end) >>> 0;
        return 'tls';
      }
      // A gap in the capture: start over at this segment.
      this.streams.delete(key);
    }
    const end = walkRecords(frame, off, len, 0);
    if (end === -1 || end === null) return 'unsynced';
    this.streams.set(key, { next: (seq + end) >>> 0 });
    return 'tls';
  }
}
