import { unlinkSync } from 'node:fs';
import type { Logger } from '../util/log.js';
import { OperationFailed, PrivilegeError } from '../util/errors.js';
import { openTun, type Tun } from '../native/tun.js';
import { EspDataPath } from '../esp/datapath.js';
import type { ChildSpec } from '../esp/child.js';
import type { EspEvent } from '../esp/types.js';
import type { IpsecdConfig, ManualConnection } from './config.js';
import { ControlServer } from './control-server.js';
import type { ControlRequest, ControlResponse } from './control-protocol.js';
import { KeylogWriter, type EspKeyRow, type IkeKeyRow } from './keylog.js';
import { RouteInstaller, findLocalSources, localIpv4Addresses, planRoutes } from './routes.js';
import { buildStatus, xfrmName, type StatusJson } from './status.js';
import { UdpEndpoint, type Peer } from './udp.js';
import { IkeService } from './ike-service.js';
import { BufferArena } from '../util/arena.js';

export interface IpsecdOptions {
  config: IpsecdConfig;
  logger: Logger;
  /** Directory for Wireshark's esp_sa / ikev2_decryption_table; none when not asked for. */
  keylogDir?: string;
  /** Unix socket for status and commands; none when not asked for. */
  controlSocket?: string;
  /** Clock in ms (injected so tests can drive lifetimes). */
  now?: () => number;
}

/**
 * Where IKE messages go: the IKE engine (IkeService, built from the config's IKE connections)
 * implements this; with manual connections only, the daemon counts IKE datagrams and drops them.
 */
export interface IkeSink {
  onIkeMessage(message: Buffer, from: Peer, localPort: number): void;
  /** Lifetime events of the data path (soft expiry → rekey) for SAs the engine installed. */
  onEspEvent?(e: EspEvent): void;
}

/** What the daemon offers an IKE engine plugged in with attachIke(): sockets, SAs, key log. */
export interface IkeHost {
  /** Sends an IKE message from local port 500 or 4500 (the non-ESP marker is added on 4500). */
  sendIke(message: Buffer, localPort: number, to: Peer): void;
  /** Installs negotiated child SAs into the data path (a second install under a name is a rekey). */
  installChild(spec: ChildSpec): void;
  removeSa(spiIn: number): void;
  /** Outbound leaves an SA pair a DELETE is about to be sent for. */
  retireSa(spiIn: number): void;
  removeChild(name: string): void;
  /** Key-log rows, when the daemon runs with --keylog (no-ops otherwise). */
  logEspKeys(row: EspKeyRow): void;
  logIkeKeys(row: IkeKeyRow): void;
  readonly logger: Logger;
  readonly now: () => number;
}

const TICK_MS = 1000;

function spiHex(spi: number): string {
  return `0x${(spi >>> 0).toString(16).padStart(8, '0')}`;
}

/**
 * The ipsecd process: TUN ↔ ESP data path ↔ UDP 4500, with policy routes steering the protected
 * flows into the TUN. start() builds everything in order and undoes what it built when a step
 * fails; stop() removes routes and rules, closes TUN and sockets, removes the control socket.
 */
export class Ipsecd {
  private tun: Tun | undefined;
  private udp: UdpEndpoint | undefined;
  private dp: EspDataPath | undefined;
  private control: ControlServer | undefined;
  private keylog: KeylogWriter | undefined;
  private readonly routes = new RouteInstaller();
  private ticker: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private ikeDatagrams = 0;
  /** Decrypted packets the kernel refused from the TUN (e.g. a malformed inner header). */
  private tunWriteErrors = 0;
  private tunQueue: Buffer[] = [];
  /** Decrypted packets' buffers: reused once their batch is written to the TUN. */
  private readonly tunArena = new BufferArena(2 << 20);
  /** The device holding the local address (for status, as pluto shows it). */
  private listenDev = '?';
  private stopped = false;
  private running = false;
  /** The IKE engine plugs in here; null when every connection is manual. */
  ikeSink: IkeSink | null = null;
  private ike: IkeService | undefined;
  private readonly now: () => number;
  private readonly log: Logger;

  constructor(private readonly opts: IpsecdOptions) {
    this.now = opts.now ?? Date.now;
    this.log = opts.logger;
  }

  async start(): Promise<void> {
    try {
      await this.startSteps();
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  private async startSteps(): Promise<void> {
    const cfg = this.opts.config;
    this.startedAt = this.now();
    const localAddrs = [...new Set([...cfg.connections, ...cfg.ike].map((c) => c.localAddr))];
    if (localAddrs.length > 1) {
      throw new OperationFailed(`connections use several local addresses (${localAddrs.join(', ')}); this build serves one local address per daemon`);
    }
    this.tun = this.openTunDevice();
    this.routes.setupTun({ ...cfg.tun, name: this.tun.name });

    this.dp = new EspDataPath({
      tun: { write: (packets: Buffer[]) => this.queueTun(packets), endBatch: () => this.flushTun(), allocate: (length: number) => this.tunArena.take(length) },
      udp: {
        send: (d: Buffer, len: number, port: number, addr: string) => this.udp?.send(d, len, port, addr),
        sendAt: (region: Buffer, off: number, len: number, port: number, addr: number) => this.udp?.sendAt(region, off, len, port, addr),
        flush: () => this.udp?.flush(),
        allocate: (length: number) => (this.udp ? this.udp.allocate(length) : Buffer.allocUnsafe(length)),
      },
      now: this.now,
      onEvent: (e: EspEvent) => this.onEspEvent(e),
    });
    this.udp = UdpEndpoint.open(localAddrs[0]!, {
      esp: (d, off, len, from) => this.dp?.queueUdpEsp(d, off, len, from),
      espEnd: () => this.dp?.flushUdpEsp(),
      ike: (msg, from, port) => this.onIke(msg, from, port),
    });

    if (this.opts.keylogDir) this.keylog = new KeylogWriter(this.opts.keylogDir);
    cfg.connections.forEach((c, i) => this.installManual(c, i + 1));

    const local = localIpv4Addresses();
    this.listenDev = local.find((a) => a.addr === localAddrs[0])?.dev ?? '?';
    const routed = [...cfg.connections, ...cfg.ike.flatMap((c) => c.children)];
    const sources = findLocalSources(routed, local.map((a) => a.addr));
    for (const c of routed) {
      if (c.mode === 'tunnel' && !sources.has(c.name)) {
        this.log.warn({ conn: c.name, local_ts: c.localTsText }, 'no local address inside local_ts: locally sent packets may carry a source outside the selectors and be dropped');
      }
    }
    this.routes.apply(planRoutes(routed, { ...cfg.tun, name: this.tun.name }, sources));

    this.tun.onPackets((packets) => this.dp?.onTunPackets(packets));
    if (cfg.ike.length > 0) {
      this.attachIke((host) => {
        this.ike = new IkeService(cfg.ike, host, localAddrs[0]!, cfg.retransmit);
        return this.ike;
      });
    }
    this.ticker = setInterval(() => {
      this.dp?.tick();
      if (this.ike && this.dp) this.ike.tick(this.dp.status());
    }, TICK_MS);

    if (this.opts.controlSocket) {
      this.control = new ControlServer(this.opts.controlSocket, (req) => this.handleControl(req));
      await this.control.listen();
    }
    this.running = true;
    this.log.info({ tun: this.tun.name, local: localAddrs[0], connections: [...cfg.connections, ...cfg.ike].map((c) => c.name) }, 'ipsecd started');
    this.ike?.start();
  }

  private openTunDevice(): Tun {
    const name = this.opts.config.tun.name;
    try {
      return openTun(name);
    } catch (e) {
      const errno = (e as { errno?: number }).errno;
      const root = process.getuid?.() === 0;
      if (!root && (errno === 1 /* EPERM */ || errno === 13 /* EACCES */)) throw new PrivilegeError(`opening TUN device ${name}`);
      if (errno === 16 /* EBUSY */) throw new OperationFailed(`TUN device ${name} is in use by another process (another ipsecd?); set tun.name to another name`);
      throw new OperationFailed(`cannot open TUN device ${name}: ${(e as Error).message}`);
    }
  }

  private installManual(c: ManualConnection, serial: number): void {
    const proposal = xfrmName(c.proposal);
    const hard = c.lifeBytes || c.lifePackets ? { bytes: c.lifeBytes || undefined, packets: c.lifePackets || undefined } : undefined;
    const spec: ChildSpec = {
      name: c.name, mode: c.mode, local: c.localAddr, remote: c.remoteAddr, remotePort: c.remotePort,
      localTs: c.localTs, remoteTs: c.remoteTs, spiIn: c.spiIn, spiOut: c.spiOut,
      keyIn: c.keyIn, keyOut: c.keyOut, replayWindow: c.replayWindow, proposal,
      ...(hard ? { hardLifetime: hard } : {}),
    };
    this.dp!.installChild(spec);
    this.keylog?.addEsp({ src: c.localAddr, dst: c.remoteAddr, spi: c.spiOut, keyAndSalt: c.keyOut });
    this.keylog?.addEsp({ src: c.remoteAddr, dst: c.localAddr, spi: c.spiIn, keyAndSalt: c.keyIn });
    // The line pluto writes to its log when a child SA comes up (the seed's libreswan.log).
    this.log.info({ conn: c.name, serial, spi_out: spiHex(c.spiOut), spi_in: spiHex(c.spiIn) },
      `"${c.name}" #${serial}: IPsec SA established ${c.mode} mode {ESP/NAT=>${spiHex(c.spiOut)} <${spiHex(c.spiIn)} xfrm=${proposal}-NONE NATOA=none NATD=none DPD=passive}`);
  }

  /**
   * Decrypted packets of one batch of datagrams are written to the TUN together, one native call
   * at the batch's end (endBatch): they may be views into the UDP receive buffer, so they are
   * written before the next batch is read.
   */
  private queueTun(packets: Buffer[]): void {
    for (const p of packets) this.tunQueue.push(p);
  }

  private flushTun(): void {
    const batch = this.tunQueue;
    if (batch.length === 0) return;
    this.tunQueue = [];
    try {
      const n = this.tun?.writeBatch(batch) ?? 0;
      this.tunWriteErrors += batch.length - n;
    } finally {
      this.tunArena.reset();
    }
  }

  /** Plugs an IKE engine in: it gets the host services, the daemon hands it every IKE datagram. */
  attachIke(make: (host: IkeHost) => IkeSink): void {
    const host: IkeHost = {
      sendIke: (message, localPort, to) => this.udp?.sendIke(message, localPort, to),
      installChild: (spec) => this.dp!.installChild(spec),
      removeSa: (spiIn) => this.dp!.removeSa(spiIn),
      retireSa: (spiIn) => this.dp!.retireOutbound(spiIn),
      removeChild: (name) => this.dp!.removeChild(name),
      logEspKeys: (row) => this.keylog?.addEsp(row),
      logIkeKeys: (row) => this.keylog?.addIke(row),
      logger: this.log,
      now: this.now,
    };
    this.ikeSink = make(host);
  }

  private onEspEvent(e: EspEvent): void {
    if (this.ikeSink?.onEspEvent && !this.opts.config.connections.some((c) => c.name === e.child)) {
      this.ikeSink.onEspEvent(e);
      return;
    }
    // Manual SAs are never rekeyed: a soft expiry is a warning, a hard one stops the traffic.
    const fields = { conn: e.child, spi_in: spiHex(e.spiIn), reason: e.reason };
    if (e.type === 'soft-expired') this.log.warn(fields, 'SA reached its soft lifetime; manual keys are not rekeyed');
    else this.log.error(fields, 'SA reached its hard lifetime and no longer carries traffic; install new manual keys');
  }

  private onIke(msg: Buffer, from: Peer, localPort: number): void {
    this.ikeDatagrams++;
    if (this.ikeSink) this.ikeSink.onIkeMessage(msg, from, localPort);
    else this.log.debug({ from, localPort, length: msg.length }, 'IKE datagram dropped: no IKE connection configured');
  }

  status(): StatusJson {
    const dpStatus = this.dp!.status();
    return buildStatus(this.opts.config.connections, dpStatus,
      { keepalives: this.udp?.keepalives ?? 0, ike_datagrams: this.ikeDatagrams, malformed: this.udp?.malformed ?? 0 },
      { name: this.tun?.name ?? this.opts.config.tun.name, write_errors: this.tunWriteErrors },
      Math.floor((this.now() - this.startedAt) / 1000),
      this.udp ? [`${this.listenDev} UDP ${this.udp.address}:4500`, `${this.listenDev} UDP ${this.udp.address}:500`] : [],
      this.ike?.status(dpStatus) ?? [], this.ike?.counters());
  }

  private handleControl(req: ControlRequest): ControlResponse {
    if (req.cmd === 'status') return { ok: true, status: this.status() };
    if (this.ike?.has(req.conn)) return this.ike.control(req);
    const conn = this.opts.config.connections.find((c) => c.name === req.conn);
    if (!conn) return { ok: false, error: `no connection named "${req.conn}"` };
    return { ok: false, error: `${req.cmd} is not supported for manual connections ("${req.conn}" has static keys; there is no IKE SA to ${req.cmd})` };
  }

  /** Undoes everything start() did; safe to call twice and after a failed start. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    await this.ike?.stop();
    await this.control?.close();
    for (const err of this.routes.remove()) this.log.warn(err);
    this.udp?.close();
    this.tun?.close();
    // After a failed start the error itself is the message; "stopped" would only confuse.
    if (this.running) this.log.info('ipsecd stopped');
  }
}

/** Removes a file if it exists (used for leftovers of a crashed run). */
export function removeIfExists(p: string): void {
  try { unlinkSync(p); } catch { /* not there */ }
}
