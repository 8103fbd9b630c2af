import { OperationFailed } from '../util/errors.js';
import { openBatchUdp, type BatchUdp, type SendStats } from '../native/udp.js';
import { formatIpv4, parseIpv4 } from '../wire/address.js';
import { classifyUdpEncap, newUdpEncapClass, prependNonEspMarker } from '../wire/udp-encap.js';

/**
 * The daemon's UDP sockets: 4500 (ESP-in-UDP and IKE after NAT-T, RFC 3948) and 500 (IKE), both
 * with batched I/O (recvmmsg/sendmmsg in the native addon): one system call per batch.
 * Datagrams on 4500 are told apart by their first bytes (wire/udp-encap): a single 0xFF is a NAT
 * keepalive, four zero bytes (the non-ESP marker) start IKE, anything else is ESP (an SPI is
 * never 0). ESP too short to be a packet still goes to the data path, which counts it as
 * malformed under its SA's counters; other junk is counted here.
 */

export const IKE_PORT = 500;
export const NATT_PORT = 4500;

export interface Peer {
  address: string;
  port: number;
}

/** Where the datagrams go. IKE is the IKE engine's (or a counter until it exists). */
export interface UdpHandlers {
  /** An ESP packet: `datagram` is valid only during the call (the next batch overwrites it). */
  esp(datagram: Buffer, offset: number, length: number, from: Peer): void;
  /** Optional: the batch the esp() calls came in is over (the datagram buffer is reused next). */
  espEnd?(): void;
  /** An IKE message (non-ESP marker already stripped) and the local port it came to. */
  ike(message: Buffer, from: Peer, localPort: number): void;
  keepalive?(from: Peer): void;
}

function open(address: string, port: number, batchLimit: number): BatchUdp {
  try {
    // Each batch slot holds a 64 KiB datagram: IKE on 500 needs few, ESP on 4500 many.
    return openBatchUdp(address, port, { batchLimit });
  } catch (e) {
    const errno = (e as { errno?: number }).errno;
    const why = errno === 98 /* EADDRINUSE */ ? 'the port is in use (another IKE daemon, e.g. charon or pluto?)'
      : errno === 99 /* EADDRNOTAVAIL */ ? 'the address is not assigned on this host (check local_addrs)'
      : (e as Error).message;
    throw new OperationFailed(`cannot bind UDP ${address}:${port}: ${why}`);
  }
}

/** Sockets on 500 and 4500 of one local address. */
export class UdpEndpoint {
  keepalives = 0;
  /** Datagrams on 4500 that are neither keepalive, IKE nor ESP (empty, 2-3 bytes, short IKE). */
  malformed = 0;
  private natt: BatchUdp | undefined;
  private ike: BatchUdp | undefined;
  /** Peer addresses as numbers, cached: the data path names peers by their text. */
  private readonly addrCache = new Map<string, number>();

  private constructor(readonly address: string) {}

  static open(address: string, handlers: UdpHandlers): UdpEndpoint {
    const ep = new UdpEndpoint(address);
    ep.natt = open(address, NATT_PORT, 64);
    try {
      ep.ike = open(address, IKE_PORT, 8);
    } catch (e) {
      ep.natt.close();
      throw e;
    }
    const cls = newUdpEncapClass();
    // The ESP handler gets the sender as an object; one per distinct sender in a row, not per datagram.
    let lastAddr = -1;
    let lastPort = -1;
    let lastFrom: Peer = { address: '', port: 0 };
    const fromOf = (addr: number, port: number): Peer => {
      if (addr !== lastAddr || port !== lastPort) {
        lastAddr = addr;
        lastPort = port;
        lastFrom = { address: formatIpv4(addr), port };
      }
      return lastFrom;
    };
    // Datagrams are views into the socket's receive slab, valid during the callback only. ESP is
    // decrypted into new buffers right away; IKE messages are copied, as the IKE engine may keep them.
    ep.natt.onBatch((slab, meta, count) => {
      for (let i = 0; i < count; i++) {
        const off = meta[4 * i]!;
        const len = meta[4 * i + 1]!;
        const addr = meta[4 * i + 2]!;
        const port = meta[4 * i + 3]!;
        classifyUdpEncap(slab, off, len, cls);
        switch (cls.kind) {
          case 'keepalive':
            ep.keepalives++;
            handlers.keepalive?.({ address: formatIpv4(addr), port });
            break;
          case 'ike':
            handlers.ike(Buffer.from(slab.subarray(cls.offset, cls.offset + cls.length)), { address: formatIpv4(addr), port }, NATT_PORT);
            break;
          case 'esp':
            handlers.esp(slab, off, len, fromOf(addr, port));
            break;
          case 'malformed':
            if (cls.cause === 'esp_truncated') handlers.esp(slab, off, len, fromOf(addr, port));
            else ep.malformed++;
        }
      }
      handlers.espEnd?.();
    });
    ep.ike.onDatagrams((datagrams, addrs, ports) => {
      for (let i = 0; i < datagrams.length; i++) {
        handlers.ike(Buffer.from(datagrams[i]!), { address: formatIpv4(addrs[i]!), port: ports[i]! }, IKE_PORT);
      }
    });
    return ep;
  }

  private addr(text: string): number | null {
    let v = this.addrCache.get(text);
    if (v === undefined) {
      const p = parseIpv4(text);
      if (p === null) return null;
      v = p;
      this.addrCache.set(text, v);
    }
    return v;
  }

  /** Queues an ESP datagram from port 4500 (the UdpSender of the data path); sent in a batch. */
  send(datagram: Buffer, length: number, port: number, address: string): void {
    const a = this.addr(address);
    if (a !== null) this.natt?.send(datagram, length, a, port);
  }

  /**
   * Queues `length` bytes of `region` from `offset` to `address` (a number) from 4500, to leave at
   * the next flush() (see UdpSender.sendAt): the data path flushes once per batch it sealed.
   */
  sendAt(region: Buffer, offset: number, length: number, port: number, address: number): void {
    this.natt?.queueAt(region, offset, length, address, port);
  }

  /** Sends what is queued on 4500 now (one sendmmsg). */
  flush(): void {
    this.natt?.flush();
  }

  /** A buffer for an ESP datagram to send() in this event-loop turn (reused after the batch leaves). */
  allocate(length: number): Buffer {
    return this.natt ? this.natt.allocate(length) : Buffer.allocUnsafe(length);
  }

  /** Datagrams lost on the way out of 500 and 4500 (see BatchUdp.sendDrops). */
  get sendDrops(): number {
    return (this.natt?.sendDrops ?? 0) + (this.ike?.sendDrops ?? 0);
  }

  /** What became of the sends the kernel refused, per socket. */
  get sendStats(): { 500?: SendStats; 4500?: SendStats } {
    return { ...(this.ike ? { 500: this.ike.sendStats } : {}), ...(this.natt ? { 4500: this.natt.sendStats } : {}) };
  }

  /** Sends an IKE message from `localPort`, adding the non-ESP marker on 4500. */
  sendIke(message: Buffer, localPort: number, to: Peer): void {
    const a = this.addr(to.address);
    if (a === null) return;
    // Important: refused by a full buffer, an IKE message waits for another try rather than being lost.
    if (localPort === NATT_PORT) {
      const m = prependNonEspMarker(message);
      this.natt?.send(m, m.length, a, to.port, true);
    } else {
      this.ike?.send(message, message.length, a, to.port, true);
    }
  }

  close(): void {
    this.natt?.close();
    this.ike?.close();
    this.natt = this.ike = undefined;
  }
}
