import { unlinkSync } from 'node:fs';
import type { Logger } from '../util/log.js';
import { OperationFailed, PrivilegeError } from '../util/errors.js';
import { openTun, type Tun } from '../native/tun.js';
import type { ChildSpec } from '../esp/child.js';
import type { EspEvent } from '../esp/types.js';
import { createAuthProvider } from '../ike/auth/index.js';
import { ControlServer } from '../host/control-server.js';
import type { ControlRequest, ControlResponse } from '../host/control-protocol.js';
import { IpsecStack, type IpsecStackEvent } from '../host/ipsec-stack.js';
import { xfrmName, type StatusJson } from '../host/status.js';
import type { IpsecdConfig, ManualConnection } from './config.js';
import { parseRequest } from './control.js';
import { RouteInstaller, findLocalSources, localIpv4Addresses, planRoutes } from './routes.js';
import { buildStatus, ikeSasJson } from './status.js';
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
  private stack: IpsecStack | undefined;
  private control: ControlServer<ControlRequest> | undefined;
  private readonly routes = new RouteInstaller();
  private startedAt = 0;
  /** Decrypted packets the kernel refused from the TUN (e.g. a malformed inner header). */
  private tunWriteErrors = 0;
  private tunQueue: Buffer[] = [];
  /** Decrypted packets' buffers: reused once their batch is written to the TUN. */
  private readonly tunArena = new BufferArena(2 << 20);
  /** The device holding the local address (for status, as pluto shows it). */
  private listenDev = '?';
  private stopped = false;
  private running = false;
  /** ipsecd's IKE connections; none when every connection is manual. */
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

    // Without IKE connections no auth is configured and IKE datagrams are counted and dropped.
    const auth = cfg.ike.length > 0 ? createAuthProvider(Object.fromEntries(cfg.ike.map((c) => [c.name, c.auth])), () => new Date(this.now())) : undefined;
    const stack = new IpsecStack({
      local: localAddrs[0]!,
      tun: { write: (packets: Buffer[]) => this.queueTun(packets), endBatch: () => this.flushTun(), allocate: (length: number) => this.tunArena.take(length) },
      now: this.now,
      log: this.log,
      ...(auth ? { auth, connections: cfg.ike.map((c) => c.engine) } : {}),
      ...(cfg.retransmit ? { timers: { retransmit: cfg.retransmit } } : {}),
      ...(this.opts.keylogDir ? { keylogDir: this.opts.keylogDir } : {}),
      onEvent: (e) => this.onStackEvent(e),
    });
    this.stack = stack;
    if (cfg.ike.length > 0) this.ike = new IkeService(cfg.ike, stack, this.log);
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

    this.tun.onPackets((packets) => stack.onTunPackets(packets));

    if (this.opts.controlSocket) {
      this.control = new ControlServer<ControlRequest>(this.opts.controlSocket, (req) => this.handleControl(req), parseRequest);
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
    this.stack!.esp.installChild(spec);
    this.stack!.logManualKeys(spec);
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

  private onStackEvent(e: IpsecStackEvent): void {
    switch (e.type) {
      case 'manual-sa-expiry': {
        // Manual SAs are never rekeyed: a soft expiry is a warning, a hard one stops the traffic.
        const ev: EspEvent = e.event;
        const fields = { conn: ev.child, spi_in: spiHex(ev.spiIn), reason: ev.reason };
        if (ev.type === 'soft-expired') this.log.warn(fields, 'SA reached its soft lifetime; manual keys are not rekeyed');
        else this.log.error(fields, 'SA reached its hard lifetime and no longer carries traffic; install new manual keys');
        break;
      }
      case 'outbound-without-sa':
        this.ike?.onOutboundWithoutSa();
        break;
      case 'ike-log':
        this.log.info(e.line);
        break;
      case 'ike-down':
        this.log.info({ conn: e.name, serial: e.serial, reason: e.reason }, 'IKE SA down');
        break;
      default:
        break;
    }
  }

  status(): StatusJson {
    const stack = this.stack!;
    const dpStatus = stack.esp.status();
    const c = stack.counters();
    return buildStatus(this.opts.config.connections, dpStatus,
      { keepalives: c.keepalives, ike_datagrams: c.ike_datagrams, malformed: c.malformed },
      { name: this.tun?.name ?? this.opts.config.tun.name, write_errors: this.tunWriteErrors },
      Math.floor((this.now() - this.startedAt) / 1000),
      [`${this.listenDev} UDP ${stack.address}:4500`, `${this.listenDev} UDP ${stack.address}:500`],
      this.ike ? ikeSasJson(this.opts.config.ike, stack.engine.status(), dpStatus) : [],
      this.ike ? { ...stack.engine.counters } : undefined);
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
    await this.stack?.stop();
    await this.control?.close();
    for (const err of this.routes.remove()) this.log.warn(err);
    this.tun?.close();
    // After a failed start the error itself is the message; "stopped" would only confuse.
    if (this.running) this.log.info('ipsecd stopped');
  }
}

/** Removes a file if it exists (used for leftovers of a crashed run). */
export function removeIfExists(p: string): void {
  try { unlinkSync(p); } catch { /* not there */ }
}
