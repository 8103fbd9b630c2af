import { parseIpv4 } from '../wire/address.js';
import { openBatchUdp, type BatchUdp } from '../native/udp.js';
import { BufferArena } from '../util/arena.js';
import { GENEVE_UDP_PORT } from '../wire/geneve.js';
import { IPV4_MIN_HEADER_LENGTH } from '../wire/ipv4.js';
import { UDP_HEADER_LENGTH } from '../wire/udp.js';
import type { Underlay, UnderlaySink } from './underlay.js';

export interface UdpUnderlayOptions {
  /** Local underlay address to bind (the node's underlay IP). */
  address: string;
  /** Geneve port (default 6081). */
  port?: number;
  /** How many sending sockets, i.e. distinct outer source ports flows spread over (default 8). */
  senders?: number;
  /**
   * Socket buffer sizes in bytes (default 4 MiB; the kernel caps them at net.core.rmem_max /
   * wmem_max). The default 208 KiB receive buffer overflows under a TCP burst while the event loop
   * is busy writing the previous datagrams to the TUN — UdpRcvbufErrors, then TCP retransmits.
   */
  receiveBufferBytes?: number;
  sendBufferBytes?: number;
}

/** Outer IPv4 + UDP header in front of the Geneve payload of a packet the engine built. */
const OUTER = IPV4_MIN_HEADER_LENGTH + UDP_HEADER_LENGTH;

/**
 * Plain (cleartext) Geneve over the kernel's UDP. Node has no raw sockets, so the outer source port
 * cannot be any number: each sending socket is bound to an ephemeral port and a flow's hash picks
 * one of them — one flow, one port; many flows, many ports, like a kernel Geneve device.
 * The sockets are the native batched ones (recvmmsg/sendmmsg, UDP GSO/GRO): what was sent in one
 * call leaves before the call returns, and what arrives in one read reaches the sink as a batch.
 */
export class UdpUnderlay implements Underlay {
  readonly address: string;
  readonly port: number;
  private readonly senderCount: number;
  private readonly bufferBytes: number;
  private receiver: BatchUdp | undefined;
  private senders: BatchUdp[] = [];
  private senderPorts: number[] = [];
  private byPort = new Map<number, BatchUdp>();
  /** Built packets live until send() returns (every sender is flushed by then). */
  private readonly arena = new BufferArena(1 << 20);
  private readonly used = new Set<BatchUdp>();
  private closed = false;
  private sendFailures = 0;
  receiveErrors = 0;

  constructor(opts: UdpUnderlayOptions) {
    if (parseIpv4(opts.address) === null) throw new Error(`underlay address "${opts.address}" is not IPv4`);
    this.address = opts.address;
    this.port = opts.port ?? GENEVE_UDP_PORT;
    this.senderCount = opts.senders ?? 8;
    this.bufferBytes = Math.max(opts.receiveBufferBytes ?? 4 << 20, opts.sendBufferBytes ?? 4 << 20);
    if (!Number.isInteger(this.senderCount) || this.senderCount < 1 || this.senderCount > 64) throw new Error('senders must be 1..64');
  }

  /** Datagrams not sent: the socket's buffer was full, or a packet was not one the engine builds. */
  get sendErrors(): number {
    let n = this.sendFailures;
    for (const s of this.senders) n += s.sendDrops;
    return n;
  }

  async start(sink: UnderlaySink): Promise<void> {
    try {
      const rx = this.bind(this.port, 64);
      this.receiver = rx;
      rx.onDatagrams((datagrams, addrs) => {
        // Views into the receive slab: the sink consumes them (TUN write included) before returning.
        if (sink.fromUdpBatch) sink.fromUdpBatch(datagrams, addrs);
        else for (let i = 0; i < datagrams.length; i++) sink.fromUdp(addrs[i]!, datagrams[i]!);
      });
      for (let i = 0; i < this.senderCount; i++) {
        const s = this.bind(0, 4);
        this.senders.push(s);
        // Anything arriving on a sending port is not Geneve to us; read and discard it.
        s.onDatagrams(() => {});
        this.senderPorts.push(s.port);
        this.byPort.set(s.port, s);
      }
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** Binds, turning a bind error (EADDRINUSE, EADDRNOTAVAIL) into one that names the address. */
  private bind(port: number, batchLimit: number): BatchUdp {
    try {
      return openBatchUdp(this.address, port, { batchLimit, bufferBytes: this.bufferBytes });
    } catch (err) {
      const code = (err as { errno?: number }).errno === 98 ? 'EADDRINUSE' : (err as { errno?: number }).errno === 99 ? 'EADDRNOTAVAIL' : '';
      throw new Error(`cannot bind UDP ${this.address}:${port}: ${code ? `${code} ` : ''}${(err as Error).message}`);
    }
  }

  sourcePort(flowHash: number): number {
    const n = this.senderPorts.length;
    return n === 0 ? 0 : this.senderPorts[flowHash % n]!;
  }

  allocate(length: number): Buffer {
    return this.arena.take(length);
  }

  send(packets: Buffer[]): void {
    if (this.closed) return;
    try {
      for (const pkt of packets) {
        if (pkt.length < OUTER) {
          this.sendFailures++;
          continue;
        }
        const sock = this.byPort.get(pkt.readUInt16BE(IPV4_MIN_HEADER_LENGTH)) ?? this.senders[0];
        if (!sock) continue;
        sock.send(pkt.subarray(OUTER), pkt.length - OUTER, pkt.readUInt32BE(16), this.port);
        this.used.add(sock);
      }
      for (const s of this.used) s.flush();
    } finally {
      this.used.clear();
      this.arena.reset();
    }
  }

  counters(): Record<string, number> {
    return { send_errors: this.sendErrors, receive_errors: this.receiveErrors };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const all = [...this.senders, ...(this.receiver ? [this.receiver] : [])];
    this.senders = [];
    this.receiver = undefined;
    this.byPort.clear();
    for (const s of all) s.close();
  }
}
