import { randomBytes } from 'node:crypto';
import { EspDataPath, type TunWriter } from '../esp/datapath.js';
import type { EspEvent } from '../esp/types.js';
import { IkeEngine } from '../ike/engine.js';
import type { IkeAuthProvider } from '../ike/auth-provider.js';
import { createAuthProvider } from '../ike/auth/index.js';
import type { IkeConnectionConfig } from '../ike/config.js';
import type { IkeState } from '../ike/sa/phase.js';
import type { EngineTimers } from '../ike/context.js';
import { wiresharkIkeEncryption } from '../ike/keylog.js';
import type { Logger } from '../util/log.js';
import type { NegotiatedChild } from '../ike/events.js';
import { IkeDriver, type IkeDown, type IkeHost, type IkeStateChange, type IkeUp } from './ike-driver.js';
import { KeylogWriter } from './keylog.js';
import { UdpEndpoint, type Peer } from './udp.js';
import type { UdpSendRefusals } from './status.js';

/** What happened in the stack, for the daemon that runs it. */
export type IpsecStackEvent =
  /** A negotiated child SA pair is in the data path; `spec.replacesSpiIn` is the pair it rekeys. */
  | { type: 'child-installed'; spec: NegotiatedChild }
  /** A negotiated pair the data path refused (e.g. SPI clash): IKE deletes it again. */
  | { type: 'child-install-failed'; name: string; spiIn: number; error: string }
  | { type: 'child-down'; name: string; spiIn: number; reason: string }
  | { type: 'ike-up'; name: string; serial: number }
  /** An IKE SA is gone; `established`: it had been up (false: an initiation of ours failed). */
  | { type: 'ike-down'; name: string; serial: number; reason: string; established: boolean }
  | { type: 'ike-state'; name: string; serial: number; from: IkeState; to: IkeState; reason: string }
  /** An IKE log line, libreswan style (`"conn" #N: text`). */
  | { type: 'ike-log'; line: string }
  /** A lifetime event of an SA that IKE did not install (manual keys): nobody will rekey it. */
  | { type: 'manual-sa-expiry'; event: EspEvent }
  /** Since the last tick, packets from the TUN were dropped for want of a policy or an SA. */
  | { type: 'outbound-without-sa'; dropped: number };

export interface IpsecStackOptions {
  /** The local address of the UDP 500/4500 endpoint (and of the IKE SAs). */
  local: string;
  /** Where decrypted packets go (the TUN, or the overlay's packet underlay). */
  tun: TunWriter;
  now: () => number;
  /** Without it the stack runs manual SAs only: IKE datagrams are counted and dropped. */
  auth?: IkeAuthProvider;
  log: Logger;
  connections?: IkeConnectionConfig[];
  timers?: Partial<EngineTimers>;
  /** Keep Wireshark key logs (esp_sa, ikev2_decryption_table) in this directory. */
  keylogDir?: string;
  onEvent?: (e: IpsecStackEvent) => void;
  /** Inbound ESP refused as unknown_spi (already counted), with its sender. */
  onUnknownSpi?: (spi: number, from: Peer) => void;
}

/** The stack's own counters (the data path and the IKE engine count the rest). */
export interface IpsecStackCounters {
  keepalives: number;
  ike_datagrams: number;
  /** Datagrams on 4500 neither keepalive, IKE nor ESP. */
  malformed: number;
  /** Datagrams lost on the way out of 500 and 4500 (refused for good, no room in the backlog). */
  send_drops: number;
  /** Per socket (500, 4500): sends the kernel refused for now, held and sent again, or dropped by cause. */
  send_refusals: UdpSendRefusals;
  child_install_failures: number;
}

/** Lifetimes by time are checked this often, and outbound packets that found no SA looked at. */
const TICK_MS = 1000;

/**
 * One IPsec stack, what both IPsec daemons run (wireguard-go's Device, handed its TUN and its
 * socket): the ESP data path, the IKE engine and its driver, the UDP 500/4500 endpoint and the
 * key log, wired once. A daemon feeds it TUN packets (onTunPackets), gives it connections and
 * commands, listens to its typed events and asks its typed queries; stop() says goodbye to peers.
 */
export class IpsecStack {
  readonly esp: EspDataPath;
  readonly engine: IkeEngine;
  private readonly driver: IkeDriver;
  private readonly udp: UdpEndpoint;
  private readonly keylog: KeylogWriter | undefined;
  /** Inbound SPIs of the pairs IKE installed: their lifetime events go back to IKE. */
  private readonly negotiated = new Set<number>();
  private readonly emit: (e: IpsecStackEvent) => void;
  private readonly ticker: NodeJS.Timeout;
  private ikeDatagrams = 0;
  private childInstallFailures = 0;
  private outboundMissesSeen = 0;
  private stopped = false;

  /** Builds the stack and binds UDP 500 and 4500 on `local` (OperationFailed when it cannot). */
  constructor(private readonly opts: IpsecStackOptions) {
    this.emit = opts.onEvent ?? (() => {});
    this.keylog = opts.keylogDir ? new KeylogWriter(opts.keylogDir) : undefined;
    let udp: UdpEndpoint | undefined;
    this.esp = new EspDataPath({
      tun: opts.tun,
      udp: {
        send: (d, len, port, addr) => udp?.send(d, len, port, addr),
        sendAt: (region, off, len, port, addr) => udp?.sendAt(region, off, len, port, addr),
        flush: () => udp?.flush(),
        allocate: (length) => (udp ? udp.allocate(length) : Buffer.allocUnsafe(length)),
      },
      now: opts.now,
      onEvent: (e) => this.onEspEvent(e),
      ...(opts.onUnknownSpi ? { onUnknownSpi: opts.onUnknownSpi } : {}),
    });
    this.engine = new IkeEngine({
      now: opts.now, random: (n) => randomBytes(n), connections: opts.connections ?? [], auth: opts.auth ?? createAuthProvider({}, () => new Date(opts.now())),
      ...(opts.timers ? { timers: opts.timers } : {}),
      // DPD asks the data path when a peer last sent ESP, when a check is due.
      lastInbound: (spiIn) => this.esp.usage(spiIn)?.lastInboundAt,
    });
    this.driver = new IkeDriver(this.engine, this.ikeHost(), opts.local);
    udp = UdpEndpoint.open(opts.local, {
      esp: (d, off, len, from) => this.esp.queueUdpEsp(d, off, len, from),
      espEnd: () => this.esp.flushUdpEsp(),
      ike: (msg, from, port) => {
        this.ikeDatagrams++;
        if (opts.auth) this.driver.onIkeMessage(msg, from, port);
        else opts.log.debug({ from, localPort: port, length: msg.length }, 'IKE datagram dropped: no IKE connection configured');
      },
    });
    this.udp = udp;
    this.ticker = setInterval(() => this.tick(), TICK_MS);
    this.ticker.unref();
  }

  /** The engine's host: sockets, the data path and the key log, wired once here. */
  private ikeHost(): IkeHost {
    return {
      sendIke: (message, localPort, to) => this.udp.sendIke(message, localPort, to),
      installChild: (spec) => this.installNegotiated(spec),
      removeSa: (spiIn, name, reason) => {
        this.negotiated.delete(spiIn);
        this.esp.removeSa(spiIn);
        this.emit({ type: 'child-down', name, spiIn, reason });
      },
      retireSa: (spiIn) => this.esp.retireOutbound(spiIn),
      ikeUp: (e: IkeUp) => {
        const k = e.keys;
        this.keylog?.addIke({ spiI: k.spiI, spiR: k.spiR, skEi: k.skEi, skEr: k.skEr, encryption: wiresharkIkeEncryption(k), integrity: 'NONE [RFC4306]' });
        this.emit({ type: 'ike-up', name: e.name, serial: e.serial });
      },
      ikeDown: (e: IkeDown) => this.emit({ type: 'ike-down', name: e.name, serial: e.serial, reason: e.reason, established: e.established }),
      ikeState: (e: IkeStateChange) => this.emit({ type: 'ike-state', name: e.name, serial: e.serial, from: e.from, to: e.to, reason: e.reason }),
      log: (line) => this.emit({ type: 'ike-log', line }),
      now: this.opts.now,
    };
  }

  private installNegotiated(spec: NegotiatedChild): void {
    try {
      this.esp.installChild(spec);
    } catch (err) {
      // E.g. an inbound SPI already in use: the child cannot carry traffic; IKE deletes it so it makes another.
      this.childInstallFailures++;
      const error = (err as Error).message;
      this.opts.log.error({ child: spec.name, err: error }, 'cannot install child SA; deleting it');
      this.emit({ type: 'child-install-failed', name: spec.name, spiIn: spec.spiIn, error });
      queueMicrotask(() => this.deleteChildSa(spec.spiIn));
      return;
    }
    this.negotiated.add(spec.spiIn);
    this.keylog?.addEsp({ src: spec.local, dst: spec.remote, spi: spec.spiOut, keyAndSalt: spec.keyOut });
    this.keylog?.addEsp({ src: spec.remote, dst: spec.local, spi: spec.spiIn, keyAndSalt: spec.keyIn });
    this.emit({ type: 'child-installed', spec });
  }

  /** Soft expiry of a negotiated SA → rekey, hard → delete; a manual SA's events go to the daemon. */
  private onEspEvent(e: EspEvent): void {
    if (!this.negotiated.has(e.spiIn)) {
      this.emit({ type: 'manual-sa-expiry', event: e });
      return;
    }
    if (e.type === 'soft-expired') this.engine.rekeyChildSa(e.spiIn);
    else this.engine.deleteChildSa(e.spiIn);
    this.driver.pump();
  }

  private tick(): void {
    this.esp.tick();
    const misses = this.esp.outboundMisses();
    if (misses > this.outboundMissesSeen) this.emit({ type: 'outbound-without-sa', dropped: misses - this.outboundMissesSeen });
    this.outboundMissesSeen = misses;
  }

  /** Outbound: packets read from the TUN (see EspDataPath.onTunPackets). */
  onTunPackets(packets: Buffer[]): void {
    this.esp.onTunPackets(packets);
  }

  /** Records SA pair keys installed by hand (manual connections) in the key log. */
  logManualKeys(spec: { local: string; remote: string; spiIn: number; spiOut: number; keyIn: Buffer; keyOut: Buffer }): void {
    this.keylog?.addEsp({ src: spec.local, dst: spec.remote, spi: spec.spiOut, keyAndSalt: spec.keyOut });
    this.keylog?.addEsp({ src: spec.remote, dst: spec.local, spi: spec.spiIn, keyAndSalt: spec.keyIn });
  }

  // Commands: each runs the engine, then sends what it produced.

  /**
   * Runs `f` on the engine and then flushes its outputs (sends, installs, timers): for a daemon's
   * pass that issues many commands at once. The commands below do the same, one each.
   */
  apply<T>(f: (engine: IkeEngine) => T): T {
    const r = f(this.engine);
    this.driver.pump();
    return r;
  }

  addConnection(cfg: IkeConnectionConfig): void {
    this.engine.addConnection(cfg);
  }

  /** Forgets a connection and removes its children from the data path. */
  removeConnection(name: string): void {
    this.apply((e) => e.removeConnection(name));
    this.removeChildren(name);
  }

  /** Removes a connection's children (`name/…`) from the data path. */
  removeChildren(connection: string): void {
    for (const child of this.esp.childNames()) if (child.startsWith(`${connection}/`)) this.esp.removeChild(child);
  }

  /** Sends what the engine produced after calls made on `engine` directly (see apply()). */
  flush(): void {
    this.driver.pump();
  }

  initiate(conn: string): void {
    this.apply((e) => e.initiate(conn));
  }

  createChild(conn: string, child: string): boolean {
    return this.apply((e) => e.createChild(conn, child));
  }

  /** Rekeys the connection's installed children, or only the one named. */
  rekeyChild(conn: string, child?: string): boolean {
    return this.apply((e) => e.rekeyChild(conn, child));
  }

  rekeyIke(conn: string): boolean {
    return this.apply((e) => e.rekeyIke(conn));
  }

  terminate(conn: string, child?: string): boolean {
    return this.apply((e) => e.terminate(conn, child));
  }

  deleteIkeSa(serial: number): boolean {
    return this.apply((e) => e.deleteIkeSa(serial));
  }

  deleteChildSa(spiIn: number): boolean {
    return this.apply((e) => e.deleteChildSa(spiIn));
  }

  // Queries.

  counters(): IpsecStackCounters {
    const u = this.udp;
    const send_refusals: UdpSendRefusals = {};
    for (const [port, s] of Object.entries(u.sendStats)) {
      send_refusals[port] = {
        refused_full: s.refusedFull, refused_no_buffers: s.refusedNoBuffers, held: s.held, resent: s.resent, held_now: s.heldNow,
        dropped_ike: s.droppedImportant, dropped_bulk: s.droppedBulk, dropped_closed: s.droppedClosed, errors: s.errors, error_reports: s.errorReports,
      };
    }
    return { keepalives: u.keepalives, ike_datagrams: this.ikeDatagrams, malformed: u.malformed, send_drops: u.sendDrops, send_refusals, child_install_failures: this.childInstallFailures };
  }

  /** The UDP endpoint's address (what `ipsec status` lists as listening). */
  get address(): string {
    return this.udp.address;
  }

  /**
   * Stops: IKE DELETEs for every connection first (waiting up to `graceMs` for the answers), then
   * timers and sockets. The TUN is the daemon's. The connections go with their SAs, not just the
   * SAs: a peer that sees our DELETE initiates again at once, and a stack still configured for it
   * would complete that exchange in the grace time and leave the peer an IKE SA with nobody
   * behind it; without the connection its IKE_SA_INIT is refused (NO_PROPOSAL_CHOSEN).
   */
  async stop(graceMs = 1000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.ticker);
    this.apply((e) => {
      for (const name of e.connectionNames()) e.removeConnection(name);
    });
    const end = Date.now() + graceMs;
    while (Date.now() < end && this.engine.sas().some((s) => s.state === 'deleting')) {
      await new Promise((r) => setTimeout(r, 20));
    }
    this.driver.stop();
    this.udp.close();
  }
}
