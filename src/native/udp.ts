import { loadNative } from './tun.js';

/**
 * A UDP/IPv4 socket with batched I/O: every event-loop turn reads up to `batchLimit` datagrams
 * with one recvmmsg, and datagrams sent during one turn leave together with one sendmmsg
 * (flushed in a microtask, so callers just call send()). IPv4 addresses are numbers here.
 */
export interface BatchUdp {
  readonly fd: number;
  /** The bound port (the kernel's choice when 0 was asked for). */
  readonly port: number;
  /** Starts reading; `cb` gets each batch (datagram i came from addrs[i]:ports[i]). */
  onDatagrams(cb: (datagrams: Buffer[], addrs: number[], ports: number[]) => void): void;
  /** Queues a datagram (the first `length` bytes of `buf`; the buffer is handed over). */
  send(buf: Uint8Array, length: number, addr: number, port: number): void;
  /** Sends what is queued now; returns how many the kernel took (the rest are dropped). */
  flush(): number;
  /** Datagrams dropped because the socket's send buffer was full. */
  readonly sendDrops: number;
  close(): void;
}

export interface OpenUdpOptions {
  batchLimit?: number;
  /** SO_RCVBUF / SO_SNDBUF to ask for (capped by net.core.[rw]mem_max). */
  bufferBytes?: number;
}

export function openBatchUdp(address: string, port: number, opts: OpenUdpOptions = {}): BatchUdp {
  const sock = new (loadNative().UdpSocket)(address, port, opts.batchLimit ?? 64, opts.bufferBytes ?? 4 * 1024 * 1024);
  let bufs: Uint8Array[] = [];
  let lens: number[] = [];
  let addrs: number[] = [];
  let ports: number[] = [];
  let scheduled = false;
  let closed = false;
  let drops = 0;
  const flush = (): number => {
    scheduled = false;
    if (closed || bufs.length === 0) return 0;
    const n = sock.sendBatch(bufs, lens, addrs, ports);
    drops += bufs.length - n;
    bufs = []; lens = []; addrs = []; ports = [];
    return n;
  };
  return {
    fd: sock.fd,
    port: sock.port,
    onDatagrams(cb) {
      sock.start((d, a, p) => {
        try {
          cb(d, a, p);
        } catch (err) {
          queueMicrotask(() => { throw err; });
        }
      });
    },
    send(buf, length, addr, p) {
      if (closed) return;
      bufs.push(buf); lens.push(length); addrs.push(addr >>> 0); ports.push(p);
      if (!scheduled) {
        scheduled = true;
        queueMicrotask(flush);
      }
    },
    flush,
    get sendDrops() {
      return drops;
    },
    close() {
      if (closed) return;
      flush();
      closed = true;
      sock.close();
    },
  };
}
