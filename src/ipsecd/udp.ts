import dgram from 'node:dgram';
import { OperationFailed } from '../util/errors.js';

/**
 * The daemon's UDP sockets: 4500 (ESP-in-UDP and IKE after NAT-T, RFC 3948) and 500 (IKE).
 * Datagrams on 4500 are told apart by their first bytes: a single 0xFF is a NAT keepalive, four
 * zero bytes (the non-ESP marker) start IKE, anything else is ESP (an SPI is never 0).
 */

export const IKE_PORT = 500;
export const NATT_PORT = 4500;

export interface Peer {
  address: string;
  port: number;
}

/** Where the datagrams go. IKE is the IKE engine's (or a counter until it exists). */
export interface UdpHandlers {
  esp(datagram: Buffer, offset: number, length: number, from: Peer): void;
  /** An IKE message (non-ESP marker already stripped) and the local port it came to. */
  ike(message: Buffer, from: Peer, localPort: number): void;
  keepalive?(from: Peer): void;
}

export type Udp4500Kind = 'keepalive' | 'ike' | 'esp';

/** Classifies a datagram that arrived on port 4500 (RFC 3948 §2.2, §2.3). */
export function classify4500(d: Buffer): Udp4500Kind {
  if (d.length === 1 && d[0] === 0xff) return 'keepalive';
  if (d.length >= 4 && d[0] === 0 && d[1] === 0 && d[2] === 0 && d[3] === 0) return 'ike';
  return 'esp';
}

function bind(address: string, port: number, onMessage: (msg: Buffer, rinfo: dgram.RemoteInfo) => void): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    s.once('error', (e: NodeJS.ErrnoException) => {
      s.close();
      const why = e.code === 'EADDRINUSE' ? 'the port is in use (another IKE daemon, e.g. charon or pluto?)'
        : e.code === 'EADDRNOTAVAIL' ? 'the address is not assigned on this host (check local_addrs)'
        : e.message;
      reject(new OperationFailed(`cannot bind UDP ${address}:${port}: ${why}`));
    });
    s.on('message', onMessage);
    s.bind(port, address, () => {
      s.removeAllListeners('error');
      // A send or receive error on a datagram socket is per packet (e.g. ICMP unreachable): ignore.
      s.on('error', () => undefined);
      // Room for bursts: the data path reads in event-loop turns, the kernel queues meanwhile.
      try {
        s.setRecvBufferSize(4 * 1024 * 1024);
        s.setSendBufferSize(4 * 1024 * 1024);
      } catch { /* capped by net.core.*mem_max: the default stays */ }
      resolve(s);
    });
  });
}

/** Sockets on 500 and 4500 of one local address. */
export class UdpEndpoint {
  keepalives = 0;
  private natt: dgram.Socket | undefined;
  private ike: dgram.Socket | undefined;

  private constructor(readonly address: string) {}

  static async open(address: string, handlers: UdpHandlers): Promise<UdpEndpoint> {
    const ep = new UdpEndpoint(address);
    ep.natt = await bind(address, NATT_PORT, (msg, r) => {
      const from = { address: r.address, port: r.port };
      switch (classify4500(msg)) {
        case 'keepalive':
          ep.keepalives++;
          handlers.keepalive?.(from);
          return;
        case 'ike':
          handlers.ike(msg.subarray(4), from, NATT_PORT);
          return;
        case 'esp':
          handlers.esp(msg, 0, msg.length, from);
      }
    });
    try {
      ep.ike = await bind(address, IKE_PORT, (msg, r) => handlers.ike(msg, { address: r.address, port: r.port }, IKE_PORT));
    } catch (e) {
      ep.natt.close();
      throw e;
    }
    return ep;
  }

  /** Sends an ESP datagram from port 4500 (the UdpSender of the data path). */
  send(datagram: Buffer, length: number, port: number, address: string): void {
    this.natt?.send(datagram, 0, length, port, address);
  }

  /** Sends an IKE message from `localPort`, adding the non-ESP marker on 4500. */
  sendIke(message: Buffer, localPort: number, to: Peer): void {
    if (localPort === NATT_PORT) this.natt?.send([Buffer.alloc(4), message], to.port, to.address);
    else this.ike?.send(message, to.port, to.address);
  }

  close(): void {
    this.natt?.close();
    this.ike?.close();
    this.natt = this.ike = undefined;
  }
}
