import dgram from 'node:dgram';
import { once } from 'node:events';
import { formatIpv4, parseIpv4 } from '../config/cidr.js';
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

/**
 * Plain (cleartext) Geneve over the kernel's UDP. Node has no raw sockets, so the outer source port
 * cannot be any number: each sending socket is bound to an ephemeral port and a flow's hash picks
 * one of them — one flow, one port; many flows, many ports, like a kernel Geneve device.
 */
export class UdpUnderlay implements Underlay {
  readonly address: string;
  readonly port: number;
  private readonly senderCount: number;
  private readonly receiveBufferBytes: number;
  private readonly sendBufferBytes: number;
  private receiver: dgram.Socket | undefined;
  private senders: dgram.Socket[] = [];
  private senderPorts: number[] = [];
  private byPort = new Map<number, dgram.Socket>();
  /** Peer address strings by number: the few peers are converted once, not per packet. */
  private addrText = new Map<number, string>();
  private addrNum = new Map<string, number>();
  private closed = false;
  sendErrors = 0;
  receiveErrors = 0;
  /** One completion callback for every send (no closure per packet). */
  private readonly onSent = (err: Error | null): void => {
    if (err) this.sendErrors++;
  };

  constructor(opts: UdpUnderlayOptions) {
    if (parseIpv4(opts.address) === undefined) throw new Error(`underlay address "${opts.address}" is not IPv4`);
    this.address = opts.address;
    this.port = opts.port ?? GENEVE_UDP_PORT;
    this.senderCount = opts.senders ?? 8;
    this.receiveBufferBytes = opts.receiveBufferBytes ?? 4 << 20;
    this.sendBufferBytes = opts.sendBufferBytes ?? 4 << 20;
    if (!Number.isInteger(this.senderCount) || this.senderCount < 1 || this.senderCount > 64) throw new Error('senders must be 1..64');
  }

  async start(sink: UnderlaySink): Promise<void> {
    const rx = dgram.createSocket({ type: 'udp4', reuseAddr: false, recvBufferSize: this.receiveBufferBytes });
    rx.on('error', () => { this.receiveErrors++; });
    rx.on('message', (msg, rinfo) => {
      let src = this.addrNum.get(rinfo.address);
      if (src === undefined) {
        src = parseIpv4(rinfo.address);
        if (src === undefined) return;
        if (this.addrNum.size < 4096) this.addrNum.set(rinfo.address, src);
      }
      sink.fromUdp(src, msg);
    });
    this.receiver = rx;
    try {
      await this.bind(rx, this.port);
      for (let i = 0; i < this.senderCount; i++) {
        const s = dgram.createSocket({ type: 'udp4', sendBufferSize: this.sendBufferBytes });
        // A failed send (EMSGSIZE, unreachable) must not end the process: count it.
        s.on('error', () => { this.sendErrors++; });
        // Anything arriving on a sending port is not Geneve to us; read and discard it.
        s.on('message', () => {});
        this.senders.push(s);
        await this.bind(s, 0);
        const p = s.address().port;
        this.senderPorts.push(p);
        this.byPort.set(p, s);
      }
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** Binds, turning a bind error (EADDRINUSE, EADDRNOTAVAIL) into a rejection that names the address. */
  private async bind(sock: dgram.Socket, port: number): Promise<void> {
    sock.bind(port, this.address);
    try {
      await once(sock, 'listening');
    } catch (err) {
      throw new Error(`cannot bind UDP ${this.address}:${port}: ${(err as Error).message}`);
    }
  }

  sourcePort(flowHash: number): number {
    const n = this.senderPorts.length;
    return n === 0 ? 0 : this.senderPorts[flowHash % n]!;
  }

  send(packets: Buffer[]): void {
    if (this.closed) return;
    for (const pkt of packets) {
      if (pkt.length < IPV4_MIN_HEADER_LENGTH + UDP_HEADER_LENGTH) continue;
      const dst = pkt.readUInt32BE(16);
      let text = this.addrText.get(dst);
      if (text === undefined) {
        text = formatIpv4(dst);
        this.addrText.set(dst, text);
      }
      const sock = this.byPort.get(pkt.readUInt16BE(IPV4_MIN_HEADER_LENGTH)) ?? this.senders[0];
      if (!sock) continue;
      try {
        sock.send(pkt.subarray(IPV4_MIN_HEADER_LENGTH + UDP_HEADER_LENGTH), this.port, text, this.onSent);
      } catch {
        this.sendErrors++; // e.g. the socket closed under us during shutdown
      }
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
    await Promise.all(all.map((s) => new Promise<void>((r) => {
      try {
        s.close(() => r());
      } catch {
        r(); // never bound, or already closed
      }
    })));
  }
}
