import type { EspEvent } from '../esp/types.js';
import type { IkeEngine } from './engine.js';
import type { ChildSpec, Endpoint } from './events.js';
import { wiresharkIkeEncryption } from './keylog.js';

/**
 * The thin I/O driver between the sans-I/O IkeEngine and a daemon that owns the sockets and the
 * ESP data path (src/ipsecd's IkeHost / IkeSink shapes, matched structurally so that this layer
 * does not import the daemon). It feeds datagrams and timers in and turns the engine's outputs
 * into host calls: sends, child installs and removals, key-log rows, log lines.
 */
export interface IkeHostLike {
  /** Sends an IKE message from local port 500 or 4500; the host adds the non-ESP marker on 4500. */
  sendIke(message: Buffer, localPort: number, to: Endpoint): void;
  installChild(spec: EspInstallSpec): void;
  removeSa(spiIn: number): void;
  /** Outbound traffic leaves this SA pair (a DELETE for it is about to go out). */
  retireSa?(spiIn: number): void;
  logEspKeys?(row: { src: string; dst: string; spi: number; keyAndSalt: Buffer }): void;
  logIkeKeys?(row: { spiI: Buffer; spiR: Buffer; skEi: Buffer; skEr: Buffer; encryption: string; skAi?: Buffer; skAr?: Buffer; integrity: string }): void;
  logger?: { info(obj: object, msg: string): void };
  /** The clock the engine was built with (ms); Date.now when absent. */
  now?: () => number;
}

/** What src/esp's data path installs (src/esp/child.ts ChildSpec). */
export type EspInstallSpec = Pick<ChildSpec, 'name' | 'mode' | 'local' | 'remote' | 'remotePort' | 'localTs' | 'remoteTs' | 'spiIn' | 'spiOut' | 'keyIn' | 'keyOut' | 'proposal' | 'softLifetime' | 'hardLifetime' | 'deferOutbound' | 'replacesSpiIn'> & { replayWindow?: number };

const MARKER = Buffer.alloc(4);

export class IkeDriver {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  /**
   * `localAddress`: our address when the host does not say which one a datagram arrived on
   * (the first local address of the first connection, normally).
   */
  constructor(readonly engine: IkeEngine, private readonly host: IkeHostLike, private readonly localAddress: string, private readonly natTPort = 4500) {}

  /** A datagram from the host; on 4500 the host has removed the non-ESP marker. */
  onIkeMessage(message: Buffer, from: Endpoint, localPort: number): void {
    const bytes = localPort === this.natTPort || from.port === this.natTPort ? Buffer.concat([MARKER, message]) : message;
    this.engine.receive(bytes, from, { address: this.localAddress, port: localPort });
    this.pump();
  }

  /** Soft expiry of an engine-installed SA → rekey; hard expiry → delete it. */
  onEspEvent(e: EspEvent): void {
    if (e.type === 'soft-expired') this.engine.rekeyChildSa(e.spiIn);
    else this.engine.deleteChildSa(e.spiIn);
    this.pump();
  }

  /** Runs after any API call on the engine (initiate, rekey, terminate) to flush its outputs. */
  pump(): void {
    if (this.stopped) return;
    for (const o of this.engine.poll()) {
      switch (o.kind) {
        case 'send': {
          const marked = o.from.port === this.natTPort || o.to.port === this.natTPort;
          this.host.sendIke(marked ? o.bytes.subarray(4) : o.bytes, o.from.port, o.to);
          break;
        }
        case 'child-up': {
          const s = o.spec;
          const spec: EspInstallSpec = { name: s.name, mode: s.mode, local: s.local, remote: s.remote, remotePort: s.remotePort, localTs: s.localTs, remoteTs: s.remoteTs, spiIn: s.spiIn, spiOut: s.spiOut, keyIn: s.keyIn, keyOut: s.keyOut, proposal: s.proposal };
          if (s.softLifetime) spec.softLifetime = s.softLifetime;
          if (s.hardLifetime) spec.hardLifetime = s.hardLifetime;
          if (s.deferOutbound) spec.deferOutbound = true;
          if (s.replacesSpiIn !== undefined) spec.replacesSpiIn = s.replacesSpiIn;
          this.host.installChild(spec);
          this.host.logEspKeys?.({ src: s.local, dst: s.remote, spi: s.spiOut, keyAndSalt: s.keyOut });
          this.host.logEspKeys?.({ src: s.remote, dst: s.local, spi: s.spiIn, keyAndSalt: s.keyIn });
          break;
        }
        case 'child-down':
          this.host.removeSa(o.spiIn);
          break;
        case 'child-retiring':
          this.host.retireSa?.(o.spiIn);
          break;
        case 'ike-up': {
          this.host.logIkeKeys?.({ spiI: o.keys.spiI, spiR: o.keys.spiR, skEi: o.keys.skEi, skEr: o.keys.skEr, encryption: wiresharkIkeEncryption(o.keys), integrity: 'NONE [RFC4306]' });
          break;
        }
        case 'ike-down':
        case 'ike-state':
          break;
        case 'log':
          this.host.logger?.info({}, o.line);
          break;
      }
    }
    this.arm();
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const d = this.engine.nextDeadline();
    if (d === undefined || this.stopped) return;
    // Timers are coarse on purpose: the engine's deadlines are seconds apart.
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.engine.onTimeout();
      this.pump();
    }, Math.max(0, Math.min(d - (this.host.now?.() ?? Date.now()), 2 ** 31 - 1)));
    this.timer.unref?.();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
