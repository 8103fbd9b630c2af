import { BufferArena } from '../util/arena.js';
import { SendBacklog, type BacklogCounters, type BacklogLimits } from './send-backlog.js';
import { loadNative, type NativeUdpSocket } from './tun.js';

/** What became of the datagrams a socket was asked to send but the kernel refused (send-backlog.ts). */
export interface SendStats extends BacklogCounters {
  /** Datagrams held now, waiting for another try. */
  heldNow: number;
  /** Datagrams refused for good by the kernel (no route, too big, …). */
  errors: number;
  /** ICMP error reports the socket received (IP_RECVERR). */
  errorReports: number;
}

/**
 * A UDP/IPv4 socket with batched I/O: every event-loop turn reads up to `batchLimit` datagrams
 * with one recvmmsg, and datagrams sent during one turn leave together with one sendmmsg
 * (flushed in a microtask, so callers just call send()). Where the kernel offers them, runs of
 * equal-length datagrams to one peer leave as one UDP_SEGMENT send, and UDP_GRO lets such runs
 * arrive as one read (split natively). IPv4 addresses are numbers here.
 */
export interface BatchUdp {
  readonly fd: number;
  /** The bound port (the kernel's choice when 0 was asked for). */
  readonly port: number;
  /** 'gso+gro', 'gso', 'gro' or 'none'. */
  readonly offload: string;
  /**
   * Starts reading; `cb` gets each batch (datagram i came from addrs[i]:ports[i]). The datagrams
   * and both arrays are views the next batch overwrites: copy what must outlive the callback.
   */
  onDatagrams(cb: (datagrams: Buffer[], addrs: Uint32Array, ports: Uint32Array) => void): void;
  /**
   * Starts reading, without a view per datagram: datagram i of a batch is `meta[4i+1]` bytes at
   * `slab[meta[4i]]` from address meta[4i+2], port meta[4i+3]. Slab and meta are overwritten by
   * the next batch. Use either this or onDatagrams.
   */
  onBatch(cb: (slab: Buffer, meta: Uint32Array, count: number) => void): void;
  /**
   * A buffer of `length` bytes for a datagram about to be queued with send(): valid until the
   * queue is flushed (its space is then reused), so it must go to send() in this event-loop turn.
   */
  allocate(length: number): Buffer;
  /**
   * Queues a datagram (the first `length` bytes of `buf`; the buffer is handed over). `important`
   * (IKE): if the kernel refuses it for now, the backlog keeps more of these than of the others.
   */
  send(buf: Uint8Array, length: number, addr: number, port: number, important?: boolean): void;
  /**
   * Queues `length` bytes of `buf` from `offset`: many datagrams built in one region (a sealed
   * batch) go out without a view made per datagram. The region is handed over until the flush.
   */
  sendAt(buf: Uint8Array, offset: number, length: number, addr: number, port: number): void;
  /**
   * sendAt() without a flush scheduled: the caller calls flush() once its batch is queued (in the
   * same turn), which spares the microtask — and its latency — per batch.
   */
  queueAt(buf: Uint8Array, offset: number, length: number, addr: number, port: number): void;
  /**
   * Sends what is queued now; returns how many the kernel dealt with. What it refused for now
   * (send buffer full, no buffers below) is held and sent again when it can (send-backlog.ts).
   */
  flush(): number;
  /** Datagrams lost: refused for good, no room in the backlog, a span outside its buffer, held at close. */
  readonly sendDrops: number;
  readonly sendStats: SendStats;
  close(): void;
}

export interface OpenUdpOptions {
  batchLimit?: number;
  /** SO_RCVBUF / SO_SNDBUF to ask for (capped by net.core.[rw]mem_max). */
  bufferBytes?: number;
  /**
   * UDP segmentation offloads: runs of alike datagrams sent with UDP_SEGMENT, reads with UDP_GRO
   * (default: on; OVERLAY_IPSEC_UDP_GSO=0 turns them off). The kernel carries a run as one
   * super-datagram as far as the first device that cannot take it whole, which cuts it in software:
   * a NIC, or a link set to segment like one (`SEGMENT_LIKE_A_NIC`, the cluster's node links). A
   * veth with the kernel's defaults passes the run on whole, so a capture behind it would record
   * several ESP packets as one datagram.
   */
  gso?: boolean;
  /** Bounds of the backlog of refused datagrams (send-backlog.ts). */
  backlog?: BacklogLimits;
}

/** Receive slot per batch entry in the native socket (a whole GRO run fits). */
const RX_SLOT = 65536;
/** Most datagrams one GRO read splits into (the kernel's UDP_MAX_SEGMENTS: 64, 128 since 6.x). */
const GRO_SEGMENTS = 128;

export function openBatchUdp(address: string, port: number, opts: OpenUdpOptions = {}): BatchUdp {
  const batchLimit = opts.batchLimit ?? 64;
  const gso = opts.gso ?? process.env['OVERLAY_IPSEC_UDP_GSO'] !== '0';
  return wrapBatchUdp(new (loadNative().UdpSocket)(address, port, batchLimit, opts.bufferBytes ?? 4 * 1024 * 1024, gso), batchLimit, opts.backlog);
}

/** The queueing around an open native socket (tests hand it one that refuses on cue). */
export function wrapBatchUdp(sock: NativeUdpSocket, batchLimit: number, backlogLimits?: BacklogLimits): BatchUdp {
  // The send queue: buffers in a plain array, the rest in typed arrays that grow (never shrink).
  const bufs: Uint8Array[] = [];
  let lens = new Uint32Array(256);
  let addrs = new Uint32Array(256);
  let ports = new Uint32Array(256);
  let offs = new Uint32Array(256);
  let marks = new Uint8Array(256); // 1: important
  let queued = 0;
  let scheduled = false;
  let closed = false;
  let drops = 0;
  const arena = new BufferArena(1 << 20);
  // Refused datagrams (copies), sent again when the socket can take them; `waiting` while a
  // writability wait or a pause is armed (new datagrams then join the backlog, in order).
  const backlog = new SendBacklog(backlogLimits);
  let waiting = false;
  let pause: NodeJS.Timeout | undefined;
  const hold = (from: number, count: number): void => {
    for (let i = from; i < count; i++) backlog.hold(bufs[i]!, offs[i]!, lens[i]!, addrs[i]!, ports[i]!, marks[i] === 1);
  };
  const wait = (errno: number): void => {
    const w = backlog.refused(errno);
    if (closed) return;
    waiting = true;
    if (w === 'writable') sock.waitWritable(resume);
    else {
      pause = setTimeout(resume, w);
      pause.unref?.();
    }
  };
  const sendHeld = (): void => {
    const held = backlog.datagrams;
    const count = held.length;
    if (count === 0) return;
    const hl = new Uint32Array(count);
    const ha = new Uint32Array(count);
    const hp = new Uint32Array(count);
    for (let i = 0; i < count; i++) {
      const d = held[i]!;
      hl[i] = d.data.byteLength;
      ha[i] = d.addr;
      hp[i] = d.port;
    }
    const n = sock.sendBatch(held.map((d) => d.data), count, hl, ha, hp);
    backlog.taken(n);
    if (n < count) wait(sock.refusal);
  };
  function resume(): void {
    waiting = false;
    pause = undefined;
    if (!closed) sendHeld();
  }
  const flush = (): number => {
    scheduled = false;
    if (closed || queued === 0) return 0;
    const count = queued;
    queued = 0;
    let n = 0;
    try {
      if (backlog.size > 0) {
        // Older datagrams wait: these go behind them.
        hold(0, count);
        if (!waiting) sendHeld();
      } else {
        n = sock.sendBatch(bufs, count, lens, addrs, ports, offs);
        if (n < count) {
          hold(n, count);
          wait(sock.refusal);
        }
      }
    } finally {
      bufs.length = 0;
      arena.reset();
    }
    return n;
  };
  const grow = (): void => {
    const size = lens.length * 2;
    const l = new Uint32Array(size); l.set(lens); lens = l;
    const a = new Uint32Array(size); a.set(addrs); addrs = a;
    const p = new Uint32Array(size); p.set(ports); ports = p;
    const o = new Uint32Array(size); o.set(offs); offs = o;
    const k = new Uint8Array(size); k.set(marks); marks = k;
  };
  const enqueue = (buf: Uint8Array, offset: number, length: number, addr: number, p: number, schedule = true, important = false): void => {
    if (closed) return;
    if (offset < 0 || length < 0 || offset + length > buf.byteLength) {
      drops++; // a span outside its buffer is a caller's bug: dropped and counted here, not thrown in the flush
      return;
    }
    if (queued === lens.length) grow();
    bufs.push(buf);
    offs[queued] = offset;
    lens[queued] = length;
    addrs[queued] = addr >>> 0;
    ports[queued] = p;
    marks[queued] = important ? 1 : 0;
    queued++;
    if (schedule && !scheduled) {
      scheduled = true;
      queueMicrotask(flush);
    }
  };
  const startReading = (cb: (slab: Buffer, meta: Uint32Array, count: number) => void): void => {
    const slab = Buffer.allocUnsafeSlow(batchLimit * RX_SLOT);
    const meta = new Uint32Array(batchLimit * GRO_SEGMENTS * 4);
    sock.start((count) => {
      try {
        cb(slab, meta, count);
      } catch (err) {
        queueMicrotask(() => { throw err; });
      }
    }, slab, meta);
  };
  return {
    fd: sock.fd,
    port: sock.port,
    offload: sock.offload,
    onDatagrams(cb) {
      const cap = batchLimit * GRO_SEGMENTS;
      const from = new Uint32Array(cap);
      const fromPort = new Uint32Array(cap);
      startReading((slab, meta, count) => {
        const datagrams = new Array<Buffer>(count);
        for (let i = 0; i < count; i++) {
          const off = meta[4 * i]!;
          datagrams[i] = slab.subarray(off, off + meta[4 * i + 1]!);
          from[i] = meta[4 * i + 2]!;
          fromPort[i] = meta[4 * i + 3]!;
        }
        cb(datagrams, from, fromPort);
      });
    },
    onBatch(cb) {
      startReading(cb);
    },
    send(buf, length, addr, p, important = false) {
      enqueue(buf, 0, length, addr, p, true, important);
    },
    sendAt(buf, offset, length, addr, p) {
      enqueue(buf, offset, length, addr, p);
    },
    queueAt(buf, offset, length, addr, p) {
      enqueue(buf, offset, length, addr, p, false);
    },
    allocate(length) {
      return arena.take(length);
    },
    flush,
    get sendDrops() {
      const c = backlog.counters;
      return drops + sock.sendErrors + c.droppedImportant + c.droppedBulk + c.droppedClosed;
    },
    get sendStats() {
      return { ...backlog.counters, heldNow: backlog.size, errors: sock.sendErrors, errorReports: sock.errorReports };
    },
    close() {
      if (closed) return;
      flush();
      closed = true;
      if (pause) clearTimeout(pause);
      sendHeld(); // a last try for what is held; what is left is dropped
      backlog.clear();
      sock.close();
    },
  };
}
