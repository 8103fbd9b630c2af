import dgram from 'node:dgram';
import { OperationFailed } from '../util/errors.js';
import { classifyUdpEncap, newUdpEncapClass, prependNonEspMarker } from '../wire/udp-encap.js';

/**
 * The daemon's UDP sockets: 4500 (ESP-in-UDP and IKE after NAT-T, RFC 3948) and 500 (IKE).
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
  esp(datagram: Buffer, offset: number, length: number, from: Peer): void;
  /** An IKE message (non-ESP marker already stripped) and the local port it came to. */
  ike(message: Buffer, from: Peer, localPort: number): void;
  keepalive?(from: Peer): void;
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
  /** Datagrams on 4500 that are neither keepalive, IKE nor ESP (empty, 2-3 bytes, short IKE). */
  malformed = 0;
  private natt: dgram.Socket | undefined;
  private ike: dgram.Socket | undefined;

  private constructor(readonly address: string) {}

  static async open(address: string, handlers: UdpHandlers): Promise<UdpEndpoint> {
    const ep = new UdpEndpoint(address);
    const cls = newUdpEncapClass();
    ep.natt = await bind(address, NATT_PORT, (msg, r) => {
      const from = { address: r.address, port: r.port };
      classifyUdpEncap(msg, 0, msg.length, cls);
      switch (cls.kind) {
        case 'keepalive':
          ep.keepalives++;
          handlers.keepalive?.(from);
          return;
        case 'ike':
          handlers.ike(msg.subarray(cls.offset, cls.offset + cls.length), from, NATT_PORT);
          return;
        case 'esp':
          handlers.esp(msg, 0, msg.length, from);
          return;
        case 'malformed':
          if (cls.cause === 'esp_truncated') handlers.esp(msg, 0, msg.length, from);
          else ep.malformed++;
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
    if (localPort === NATT_PORT) this.natt?.send(prependNonEspMarker(message), to.port, to.address);
    else this.ike?.send(message, to.port, to.address);
  }

  close(): void {
    this.natt?.close();
    this.ike?.close();
    this.natt = this.ike = undefined;
  }
}
