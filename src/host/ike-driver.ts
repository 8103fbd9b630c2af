import type { IkeEngine } from '../ike/engine.js';
import type { Endpoint, IkeOutput, NegotiatedChild } from '../ike/events.js';

export type IkeUp = Extract<IkeOutput, { kind: 'ike-up' }>;
export type IkeDown = Extract<IkeOutput, { kind: 'ike-down' }>;
export type IkeStateChange = Extract<IkeOutput, { kind: 'ike-state' }>;

/**
 * What the driver needs from whoever owns the sockets and the ESP data path (IpsecStack, or a
 * test's fake): the one host interface of the IKE engine.
 */
export interface IkeHost {
  /** Sends an IKE message from local port 500 or 4500; the host adds the non-ESP marker on 4500. */
  sendIke(message: Buffer, localPort: number, to: Endpoint): void;
  /** A negotiated child SA pair; `spec.replacesSpiIn` names the pair it rekeys, if it does. */
  installChild(spec: NegotiatedChild): void;
  removeSa(spiIn: number, name: string, reason: string): void;
  /** Outbound traffic leaves this SA pair (a DELETE for it is about to go out). */
  retireSa(spiIn: number): void;
  ikeUp(e: IkeUp): void;
  ikeDown(e: IkeDown): void;
  /** An IKE SA moved from one state to another, with why. */
  ikeState(e: IkeStateChange): void;
  /** An IKE log line (libreswan style, `"conn" #N: text`). */
  log(line: string): void;
  /** The clock the engine was built with (ms). */
  now(): number;
}

/**
 * The thin I/O driver of the sans-I/O IkeEngine: feeds datagrams and timers in, turns the
 * engine's outputs into host calls. Neither sees the non-ESP marker: the UDP endpoint strips and
 * adds it at the socket.
 */
export class IkeDriver {
  private timer: NodeJS.Timeout | undefined;
  /** The deadline the timer is set for. */
  private armedFor: number | undefined;
  private stopped = false;

  /**
   * `localAddress`: our address when the host does not say which one a datagram arrived on
   * (the daemon's one local address).
   */
  constructor(readonly engine: IkeEngine, private readonly host: IkeHost, private readonly localAddress: string) {}

  /** An IKE message from the host (on 4500 the host has removed the non-ESP marker). */
  onIkeMessage(message: Buffer, from: Endpoint, localPort: number): void {
    this.engine.receive(message, from, { address: this.localAddress, port: localPort });
    this.pump();
  }

  /** Runs after any API call on the engine (initiate, rekey, terminate) to flush its outputs. */
  pump(): void {
    if (this.stopped) return;
    const host = this.host;
    for (const o of this.engine.poll()) {
      switch (o.kind) {
        case 'send':
          host.sendIke(o.bytes, o.from.port, o.to);
          break;
        case 'child-up':
          host.installChild(o.spec);
          break;
        case 'child-down':
          host.removeSa(o.spiIn, o.name, o.reason);
          break;
        case 'child-retiring':
          host.retireSa(o.spiIn);
          break;
        case 'ike-up':
          host.ikeUp(o);
          break;
        case 'ike-down':
          host.ikeDown(o);
          break;
        case 'ike-state':
          host.ikeState(o);
          break;
        case 'log':
          host.log(o.line);
          break;
      }
    }
    this.arm();
  }

  /**
   * One timer for the engine's earliest deadline. It is left alone when that deadline did not
   * move: most pumps (an answer to one SA's liveness check, a check answered for a peer) change
   * some later deadline, and re-making the timer for each cost an idle agent more than the
   * exchange's own timers work.
   */
  private arm(): void {
    const d = this.stopped ? undefined : this.engine.nextDeadline();
    if (this.timer && d === this.armedFor) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = d;
    if (d === undefined) return;
    // Timers are coarse on purpose: the engine's deadlines are seconds apart.
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.engine.onTimeout();
      this.pump();
    }, Math.max(0, Math.min(d - this.host.now(), 2 ** 31 - 1)));
    this.timer.unref?.();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
