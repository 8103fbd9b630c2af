import { resolveConnection, type IkeConnectionConfig, type ResolvedConnection } from './config.js';
import { EngineCore, type IkeCounters, type IkeEngineOptions } from './core.js';
import type { Endpoint, IkeOutput } from './events.js';
import { Receiver } from './receive.js';
import { IkeSa } from './sa/ike-sa.js';
import { buildStatus, type IkeStatus } from './status.js';
import { createChildTask } from './tasks/create-child.js';
import { initTask } from './tasks/ike-init.js';
import { ikeRekeyTask } from './tasks/ike-rekey.js';
import { deleteChildTask, deleteIkeTask } from './tasks/informational.js';
import { fireDeadlines, nextDeadline } from './timers.js';
import { ikeSaView, type IkeSaView } from './view.js';
import type { IkeId } from './auth-provider.js';

export type { IkeCounters, IkeEngineOptions };

/**
 * The IKEv2 engine: owns many IKE SAs, takes datagrams and time, gives datagrams, events and
 * deadlines (sans-I/O). A daemon drives it: receive() for each UDP datagram on ports 500/4500
 * (the bare IKE message: on 4500 the socket strips and adds the non-ESP marker), onTimeout() at nextDeadline(), and
 * poll() after each call to collect outputs. This class is the API: connection-level commands and
 * typed queries; the receive path is receive.ts, the timers timers.ts, the machinery core.ts.
 */
export class IkeEngine {
  private readonly core: EngineCore;
  private readonly receiver: Receiver;
  readonly counters: IkeCounters;

  constructor(opts: IkeEngineOptions) {
    this.core = new EngineCore(opts);
    this.receiver = new Receiver(this.core);
    this.counters = this.core.counters;
  }

  // ---------------- connections ----------------

  /**
   * Adds (or replaces) a connection at run time, e.g. when the node agent learns of a new peer.
   * SAs already up keep the settings they were made with; new ones use the new config.
   * Throws ProposalSyntaxError / TsSyntaxError like the constructor.
   */
  addConnection(config: IkeConnectionConfig): void {
    this.core.conns.set(config.name, resolveConnection(config));
  }

  /** Removes a connection: its SAs are deleted (DELETE sent when established), then the config. */
  removeConnection(name: string): boolean {
    if (!this.core.conns.has(name)) return false;
    this.terminate(name);
    this.core.conns.delete(name);
    return true;
  }

  /** Names of the configured connections. */
  connectionNames(): string[] {
    return [...this.core.conns.keys()];
  }

  // ---------------- commands ----------------

  /**
   * Starts an IKE SA (and its first CHILD SA) for a configured connection — now, or when fewer
   * initiations are in flight than the pacing window allows (see pacer.ts). While one is waiting,
   * asking again for the same connection changes nothing.
   */
  initiate(connection: string): void {
    this.requireConn(connection);
    if (this.core.pacer.request(connection, this.core.now())) this.startInitiation(connection);
  }

  /** Initiations in flight, waiting for their turn, and the current window. */
  get initiations(): { inFlight: number; pending: number; window: number } {
    const p = this.core.pacer;
    return { inFlight: p.inFlightCount, pending: p.pendingCount, window: p.window };
  }

  private startInitiation(connection: string): void {
    const { core } = this;
    const conn = this.requireConn(connection);
    const local = { address: conn.config.localAddrs[0] ?? '0.0.0.0', port: conn.localPort };
    const remote = { address: conn.config.remoteAddrs[0] ?? '0.0.0.0', port: conn.remotePort };
    const sa = new IkeSa(core.nextSerial(), conn, true, core.table.allocateIkeSpi(), local, remote, core.now(), { state: 'init-sent' });
    core.table.register(sa);
    core.pacer.started(sa.serial, core.now());
    core.ctx.log(sa, 'initiating IKEv2 connection');
    core.queue(sa, initTask(core.ctx, sa, conn.ike[0]!.dh[0]!));
  }

  /** Starts the waiting initiations the pacing window now allows (connections removed meanwhile are skipped). */
  private startPending(): void {
    const { pacer, conns } = this.core;
    for (let turn = pacer.takeStartable(this.core.now()); turn.length > 0; turn = pacer.takeStartable(this.core.now())) {
      for (const name of turn) if (conns.has(name)) this.startInitiation(name);
    }
  }

  /** Rekeys the named child (or all children) of the connection's newest IKE SA. */
  rekeyChild(connection: string, child?: string): boolean {
    const sa = this.core.table.newest(connection);
    if (!sa) return false;
    const targets = sa.children.filter((c) => c.state === 'installed' && (child === undefined || c.cfg.name === child));
    for (const c of targets) this.core.queue(sa, createChildTask(this.core.ctx, sa, c.cfg, c));
    return targets.length > 0;
  }

  /** Rekeys the child whose inbound SPI this is (the data path reached a soft lifetime). */
  rekeyChildSa(spiIn: number): boolean {
    const found = this.core.table.byChildSpi(spiIn);
    if (!found || found.sa.state !== 'established' || found.child.state !== 'installed') return false;
    this.core.queue(found.sa, createChildTask(this.core.ctx, found.sa, found.child.cfg, found.child));
    return true;
  }

  /** Deletes the child whose inbound SPI this is (hard lifetime reached: it no longer carries traffic). */
  deleteChildSa(spiIn: number): boolean {
    const found = this.core.table.byChildSpi(spiIn);
    if (!found) return false;
    this.core.queue(found.sa, deleteChildTask(this.core.ctx, found.sa, found.child));
    return true;
  }

  /** Creates (another) CHILD SA from the connection's child config. */
  createChild(connection: string, child: string): boolean {
    const sa = this.core.table.newest(connection);
    const cfg = sa?.conn.children.find((c) => c.name === child);
    if (!sa || !cfg) return false;
    this.core.queue(sa, createChildTask(this.core.ctx, sa, cfg));
    return true;
  }

  rekeyIke(connection: string): boolean {
    const sa = this.core.table.newest(connection);
    if (!sa) return false;
    this.core.queue(sa, ikeRekeyTask(this.core.ctx, sa));
    return true;
  }

  /**
   * Deletes one IKE SA (with its children) by serial, leaving the connection's other IKE SAs up:
   * the break after a make-before-break re-authentication.
   */
  deleteIkeSa(serial: number): boolean {
    const sa = this.core.table.bySerial(serial);
    if (!sa) return false;
    // Already being deleted: its DELETE is out, and its SAs must keep accepting what the peer
    // sent before it got that DELETE until the answer comes; destroying it now would not.
    if (sa.state !== 'deleting') this.closeIkeSa(sa, 're-authenticated');
    return true;
  }

  /** Deletes the named child, or the whole IKE SA (with its children) when no child is named. */
  terminate(connection: string, child?: string): boolean {
    const { core } = this;
    const cancelled = child === undefined && core.pacer.cancel(connection);
    const sas = [...core.table.all].filter((s) => s.name === connection && !s.isClosed());
    if (sas.length === 0) return cancelled;
    for (const sa of sas) {
      if (child === undefined) this.closeIkeSa(sa, 'terminated');
      else for (const c of sa.children.filter((x) => x.cfg.name === child)) core.queue(sa, deleteChildTask(core.ctx, sa, c));
    }
    this.startPending();
    return true;
  }

  /** With a DELETE when the peer knows the SA as usable (§1.4.1); otherwise it is just dropped. */
  private closeIkeSa(sa: IkeSa, reason: string): void {
    if (sa.state === 'established' || sa.state === 'rekeying' || sa.state === 'rekeyed') this.core.queue(sa, deleteIkeTask(this.core.ctx, sa, reason));
    else this.core.destroy(sa, reason);
  }

  // ---------------- driving ----------------

  /** Outputs produced since the last poll, in order. */
  poll(): IkeOutput[] {
    const o = this.core.outputs;
    this.core.outputs = [];
    return o;
  }

  nextDeadline(): number | undefined {
    return nextDeadline(this.core);
  }

  onTimeout(now: number = this.core.now()): void {
    try {
      fireDeadlines(this.core, now);
      this.startPending();
    } catch (e) {
      this.core.internalError('in timers', e);
    }
  }

  /** Handles one UDP datagram addressed to us. Never throws on bad input. */
  receive(datagram: Buffer, from: Endpoint, to: Endpoint): void {
    this.counters.received++;
    try {
      this.receiver.receive(datagram, from, to);
      this.startPending();
    } catch (e) {
      // A bug or a provider failure must not take the daemon down with it: count, log, drop.
      this.core.internalError(`handling a datagram from ${from.address}:${from.port}`, e);
    }
  }

  // ---------------- queries ----------------

  /**
   * Whether the connection has an IKE SA up or on its way: being made by either end,
   * established, or rekeyed with its successor in flight. Deleting and closed SAs do not count.
   * What the node agent asks before it initiates on ESP for an SPI it does not know.
   */
  hasLiveIkeSa(connection: string): boolean {
    for (const sa of this.core.table.all) if (sa.name === connection && sa.state !== 'deleting' && !sa.isClosed()) return true;
    return false;
  }

  /**
   * The IKE SAs (with their children) of one connection, or all, oldest first: typed views for
   * code that decides things (view.ts). Snapshots: they do not change when the engine does.
   */
  sas(connection?: string): IkeSaView[] {
    const out: IkeSaView[] = [];
    for (const sa of this.core.table.all) {
      const v = connection === undefined || sa.name === connection ? ikeSaView(sa) : undefined;
      if (v) out.push(v);
    }
    return out.sort((x, y) => x.serial - y.serial);
  }

  /** A child SA's config name by its serial (the libreswan log names children so); undefined for any other serial. No views are built: it is asked once per log line. */
  childName(serial: number): string | undefined {
    for (const sa of this.core.table.all) for (const c of sa.children) if (c.serial === serial) return c.cfg.name;
    return undefined;
  }

  /** One IKE SA by serial, if it is still there. */
  sa(serial: number): IkeSaView | undefined {
    const sa = this.core.table.bySerial(serial);
    return sa && ikeSaView(sa);
  }

  /** The text of `status --json` (formatting only; see status.ts). */
  status(): IkeStatus {
    const rtt = this.core.rtt;
    const counters = { ...this.counters, rtoMs: rtt.rtoMs, srttMs: Math.round(rtt.smoothedMs ?? 0) };
    return buildStatus(this.sas(), this.core.now(), (id) => this.core.describeId(id), counters);
  }

  /** An identity as text: the auth provider's form (e.g. a node name) or RFC 7296's ID types. */
  describeId(id: IkeId | undefined): string {
    return this.core.describeId(id);
  }

  private requireConn(name: string): ResolvedConnection {
    const c = this.core.conns.get(name);
    if (!c) throw new RangeError(`no connection named "${name}"`);
    return c;
  }
}

export type { IkeStatus };
