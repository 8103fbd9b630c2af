import dgram from 'node:dgram';
import type { IkeEngine } from '../../src/ike/engine.js';
import type { IkeOutput } from '../../src/ike/events.js';
import { ikeDatagramOf, ikeMessageOf } from '../../src/wire/udp-encap.js';

/**
 * The thinnest I/O around the sans-I/O IKE engine for the benchmark: UDP 500 and 4500 on one
 * address, datagrams in, outputs out, one timer at the engine's next deadline. Events other than
 * sends go to `onEvent`.
 */
export class IkeUdpDriver {
  private readonly sockets = new Map<number, dgram.Socket>();
  private timer: NodeJS.Timeout | undefined;
  sent = 0;

  constructor(private readonly engine: IkeEngine, private readonly local: string, private readonly onEvent: (o: IkeOutput) => void) {}

  async start(): Promise<void> {
    for (const port of [500, 4500]) {
      const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
      s.on('message', (datagram, r) => {
        const msg = ikeMessageOf(datagram, port);
        if (msg === null) return;
        this.engine.receive(msg, { address: r.address, port: r.port }, { address: this.local, port });
        this.pump();
      });
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind(port, this.local, () => resolve());
      });
      this.sockets.set(port, s);
    }
  }

  /** Sends what the engine produced, hands events over, re-arms the timer. */
  pump(): void {
    for (const o of this.engine.poll()) {
      if (o.kind === 'send') {
        this.sent++;
        this.sockets.get(o.from.port)?.send(ikeDatagramOf(o.bytes, o.from.port), o.to.port, o.to.address);
      } else {
        this.onEvent(o);
      }
    }
    if (this.timer) clearTimeout(this.timer);
    const d = this.engine.nextDeadline();
    if (d !== undefined) {
      this.timer = setTimeout(() => {
        this.engine.onTimeout(Date.now());
        this.pump();
      }, Math.max(0, d - Date.now()));
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const s of this.sockets.values()) s.close();
  }
}
