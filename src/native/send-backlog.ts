/**
 * Datagrams the kernel would not take yet, held for another try instead of lost. A non-blocking
 * UDP send is refused with EAGAIN when the socket's send buffer is full (datagrams still charged
 * to it on their way to a busy receiver) and with ENOBUFS when there is no room below the socket
 * (the host's neighbour table, a device queue). Either passes: the datagram is copied here and
 * sent again when the socket is writable (EAGAIN) or after a short, growing pause (ENOBUFS).
 *
 * Bounded, with two classes: `important` datagrams (IKE messages: losing one costs a retransmit
 * timeout, seconds) may hold more than bulk ones (ESP: the data path's own batches; a full queue
 * drops packets like a NIC's, which TCP above recovers). What does not fit is dropped and counted
 * by cause. Sans-I/O: the socket wrapper (udp.ts) makes the sends and the waits.
 */

export interface HeldDatagram {
  readonly data: Uint8Array;
  readonly addr: number;
  readonly port: number;
  readonly important: boolean;
}

export interface BacklogLimits {
  /** Bytes the important datagrams may hold (default 1 MiB). */
  importantBytes: number;
  /** Bytes the bulk datagrams may hold (default 256 KiB). */
  bulkBytes: number;
}

export const DEFAULT_BACKLOG_LIMITS: BacklogLimits = { importantBytes: 1 << 20, bulkBytes: 256 << 10 };

/** What happened to datagrams the kernel refused, by cause. */
export interface BacklogCounters {
  /** Refusals met (one per send call stopped early): send buffer full / no buffer below. */
  refusedFull: number;
  refusedNoBuffers: number;
  /** Datagrams held for another try, and those of them that left later. */
  held: number;
  resent: number;
  /** Dropped: no room in the backlog (important, bulk), or still held when the socket closed. */
  droppedImportant: number;
  droppedBulk: number;
  droppedClosed: number;
}

/** First pause after ENOBUFS, and the most it grows to (doubling while the refusals go on). */
const NOBUFS_FIRST_MS = 5;
const NOBUFS_MAX_MS = 500;

export class SendBacklog {
  private items: HeldDatagram[] = [];
  private importantBytes = 0;
  private bulkBytes = 0;
  private pauseMs = 0;
  readonly counters: BacklogCounters = { refusedFull: 0, refusedNoBuffers: 0, held: 0, resent: 0, droppedImportant: 0, droppedBulk: 0, droppedClosed: 0 };

  constructor(private readonly limits: BacklogLimits = DEFAULT_BACKLOG_LIMITS) {}

  get size(): number {
    return this.items.length;
  }

  /** The held datagrams, oldest first (the order they are sent again in). */
  get datagrams(): readonly HeldDatagram[] {
    return this.items;
  }

  /** Copies `length` bytes of `buf` from `offset` to be sent later; false (and counted) when it does not fit. */
  hold(buf: Uint8Array, offset: number, length: number, addr: number, port: number, important: boolean): boolean {
    if (important ? this.importantBytes + length > this.limits.importantBytes : this.bulkBytes + length > this.limits.bulkBytes) {
      if (important) this.counters.droppedImportant++;
      else this.counters.droppedBulk++;
      return false;
    }
    this.items.push({ data: buf.slice(offset, offset + length), addr, port, important });
    if (important) this.importantBytes += length;
    else this.bulkBytes += length;
    this.counters.held++;
    return true;
  }

  /** The kernel dealt with the first `n` held datagrams (sent, or refused for good). */
  taken(n: number): void {
    if (n <= 0) return;
    for (const d of this.items.slice(0, n)) {
      if (d.important) this.importantBytes -= d.data.byteLength;
      else this.bulkBytes -= d.data.byteLength;
    }
    this.items = this.items.slice(n);
    this.counters.resent += n;
    this.pauseMs = 0;
  }

  /**
   * A send call stopped early with `errno`; what to wait for before the next try: the socket's
   * writability (EAGAIN), or a pause in ms (ENOBUFS: nothing signals when the room below returns).
   */
  refused(errno: number): 'writable' | number {
    if (errno === ENOBUFS) {
      this.counters.refusedNoBuffers++;
      this.pauseMs = this.pauseMs === 0 ? NOBUFS_FIRST_MS : Math.min(NOBUFS_MAX_MS, this.pauseMs * 2);
      return this.pauseMs;
    }
    this.counters.refusedFull++;
    return 'writable';
  }

  /** The socket closes: whatever is still held is dropped (counted). */
  clear(): void {
    this.counters.droppedClosed += this.items.length;
    this.items = [];
    this.importantBytes = this.bulkBytes = 0;
  }
}

/** Linux errno values the native socket reports in `refusal`. */
export const EAGAIN = 11;
export const ENOBUFS = 105;
