import type { IkeAuthProvider, IkeId } from './auth-provider.js';
import { resolveConnection, type IkeConnectionConfig, type ResolvedConnection } from './config.js';
import { idToString } from './auth/id.js';
import { ExchangeType, Notify, PayloadType, ProtocolId } from './constants.js';
import { DEFAULT_TIMERS, type EngineContext, type EngineTimers } from './context.js';
import { ClosedSaAnswers } from './closed-sas.js';
import { CookieJar } from './cookies.js';
import type { ChildSpec, Endpoint, IkeOutput } from './events.js';
import { decodeHeader, fromInitiator, isResponse } from './message/header.js';
import { decodeMessage, decodeReassembled, encodePlain, type IkeMessage } from './message/message.js';
import { findPayload, notify, type Payload } from './message/payloads.js';
import { InitiationPacer } from './pacer.js';
import { proposalName } from './proposals.js';
import { ChildSa } from './sa/child-sa.js';
import { compactEstablished, owned } from './sa/compact.js';
import { IkeSa, type IkeCrypto, type Task } from './sa/ike-sa.js';
import { buildStatus, type IkeStatus } from './status.js';
import { ikeSaView, type IkeSaView } from './view.js';
import { createChildTask, respondCreateChild } from './tasks/create-child.js';
import { respondAuth } from './tasks/ike-auth.js';
import { respondInit, type InitResponderEnv } from './tasks/ike-init-responder.js';
import { initTask } from './tasks/ike-init.js';
import { ikeRekeyTask, respondIkeRekey } from './tasks/ike-rekey.js';
import { deleteChildTask, deleteIkeTask, dpdTask, respondInformational } from './tasks/informational.js';

export interface IkeEngineOptions {
  /** Milliseconds; injected so that tests and simulations control time. */
  now: () => number;
  random: (n: number) => Buffer;
  connections: IkeConnectionConfig[];
  auth: IkeAuthProvider;
  timers?: Partial<EngineTimers>;
  /** The NAT-T port: datagrams to/from it carry the 4-byte non-ESP marker (RFC 3948). */
  natTPort?: number;
}

/** Why inbound datagrams were dropped, counted by cause. */
export interface IkeCounters {
  received: number;
  malformed: number;
  decryptFailed: number;
  unknownSpi: number;
  badMessageId: number;
  retransmittedRequests: number;
  notIke: number;
  halfOpenLimit: number;
  cookiesSent: number;
  unsupportedCritical: number;
  retransmits: number;
  /** Exceptions caught at the engine boundary (should stay 0). */
  internalErrors: number;
}

const NON_ESP_MARKER = Buffer.alloc(4);
const EMPTY_KEY = Buffer.alloc(0);

/**
 * The IKEv2 engine: owns many IKE SAs, takes datagrams and time, gives datagrams, events and
 * deadlines (sans-I/O). A daemon drives it: receive() for each UDP datagram on ports 500/4500
 * (exactly the UDP payload, non-ESP marker included on 4500), onTimeout() at nextDeadline(), and
 * poll() after each call to collect outputs.
 */
export class IkeEngine {
  private readonly conns = new Map<string, ResolvedConnection>();
  private readonly bySpi = new Map<string, IkeSa>();
  private readonly halfOpenByPeer = new Map<string, IkeSa>();
  private readonly all = new Set<IkeSa>();
  private readonly childSpis = new Set<number>();
  /** Answers to the DELETEs that closed IKE SAs, for the peer's retransmits (closed-sas.ts). */
  private readonly closedSas = new ClosedSaAnswers();
  private outputs: IkeOutput[] = [];
  private serial = 0;
  private readonly cookies: CookieJar;
  private readonly timers: EngineTimers;
  private readonly natTPort: number;
  private readonly ctx: EngineContext;
  private readonly initEnv: InitResponderEnv;
  private readonly pacer: InitiationPacer;
  readonly counters: IkeCounters = {
    received: 0, malformed: 0, decryptFailed: 0, unknownSpi: 0, badMessageId: 0, retransmittedRequests: 0,
    notIke: 0, halfOpenLimit: 0, cookiesSent: 0, unsupportedCritical: 0, retransmits: 0, internalErrors: 0,
  };

  constructor(private readonly opts: IkeEngineOptions) {
    for (const c of opts.connections) this.conns.set(c.name, resolveConnection(c));
    this.timers = { ...DEFAULT_TIMERS, ...opts.timers };
    this.natTPort = opts.natTPort ?? 4500;
    this.cookies = new CookieJar(opts.random);
    this.pacer = new InitiationPacer(this.timers.initiationWindow);
    this.ctx = this.makeContext();
    this.initEnv = {
      ctx: this.ctx,
      cookies: this.cookies,
      counters: this.counters,
      halfOpenByPeer: this.halfOpenByPeer,
      peerKey: (a, s) => this.peerKey(a, s),
      halfOpenCount: () => this.halfOpenCount(),
      findConn: (l, r) => this.findConnFor(l, r),
      sendRaw: (p, f, t) => this.sendRaw(p, f, t),
    };
  }

  // ---------------- public API ----------------

  /**
   * Adds (or replaces) a connection at run time, e.g. when the node agent learns of a new peer.
   * SAs already up keep the settings they were made with; new ones use the new config.
   * Throws ProposalSyntaxError / TsSyntaxError like the constructor.
   */
  addConnection(config: IkeConnectionConfig): void {
    this.conns.set(config.name, resolveConnection(config));
  }

  /** Removes a connection: its SAs are deleted (DELETE sent when established), then the config. */
  removeConnection(name: string): boolean {
    if (!this.conns.has(name)) return false;
    this.terminate(name);
    this.conns.delete(name);
    return true;
  }

  /** Names of the configured connections. */
  connectionNames(): string[] {
    return [...this.conns.keys()];
  }

  /**
   * Starts an IKE SA (and its first CHILD SA) for a configured connection — now, or when fewer
   * initiations are in flight than the pacing window allows (see pacer.ts). While one is waiting,
   * asking again for the same connection changes nothing.
   */
  initiate(connection: string): void {
    this.requireConn(connection);
    if (this.pacer.request(connection)) this.startInitiation(connection);
  }

  /**
   * Whether the connection has an IKE SA up or on its way: being made by either end,
   * established, or rekeyed with its successor in flight. Deleting and dead SAs do not count.
   * What the node agent asks before it initiates on ESP for an SPI it does not know.
   */
  hasLiveIkeSa(connection: string): boolean {
    for (const sa of this.all) if (sa.name === connection && sa.state !== 'deleting' && !sa.isClosed()) return true;
    return false;
  }

  /** Initiations in flight, waiting for their turn, and the current window. */
  get initiations(): { inFlight: number; pending: number; window: number } {
    return { inFlight: this.pacer.inFlightCount, pending: this.pacer.pendingCount, window: this.pacer.window };
  }

  private startInitiation(connection: string): void {
    const conn = this.requireConn(connection);
    const local = { address: conn.config.localAddrs[0] ?? '0.0.0.0', port: conn.localPort };
    const remote = { address: conn.config.remoteAddrs[0] ?? '0.0.0.0', port: conn.remotePort };
    const sa = new IkeSa(++this.serial, conn, true, this.allocateIkeSpi(), local, remote, this.opts.now(), { state: 'init-sent' });
    this.register(sa);
    this.pacer.started(sa.serial);
    this.ctx.log(sa, 'initiating IKEv2 connection');
    this.queue(sa, initTask(this.ctx, sa, conn.ike[0]!.dh[0]!));
  }

  /** Starts the waiting initiations the pacing window now allows (connections removed meanwhile are skipped). */
  private startPending(): void {
    for (let turn = this.pacer.takeStartable(); turn.length > 0; turn = this.pacer.takeStartable()) {
      for (const name of turn) if (this.conns.has(name)) this.startInitiation(name);
    }
  }

  /** Rekeys the named child (or all children) of the connection's newest IKE SA. */
  rekeyChild(connection: string, child?: string): boolean {
    const sa = this.newestSa(connection);
    if (!sa) return false;
    const targets = sa.children.filter((c) => c.state === 'installed' && (child === undefined || c.cfg.name === child));
    for (const c of targets) this.queue(sa, createChildTask(this.ctx, sa, c.cfg, c));
    return targets.length > 0;
  }

  /** Rekeys the child whose inbound SPI this is (the data path reached a soft lifetime). */
  rekeyChildSa(spiIn: number): boolean {
    for (const sa of this.all) {
      const c = sa.children.find((x) => x.spiIn === spiIn);
      if (c && sa.state === 'established' && c.state === 'installed') {
        this.queue(sa, createChildTask(this.ctx, sa, c.cfg, c));
        return true;
      }
    }
    return false;
  }

  /** Deletes the child whose inbound SPI this is (hard lifetime reached: it no longer carries traffic). */
  deleteChildSa(spiIn: number): boolean {
    for (const sa of this.all) {
      const c = sa.children.find((x) => x.spiIn === spiIn);
      if (c) {
        this.queue(sa, deleteChildTask(this.ctx, sa, c));
        return true;
      }
    }
    return false;
  }

  /**
   * Inbound ESP traffic on a child proves the peer alive: the liveness check is only sent when
   * neither IKE nor ESP was heard for dpd_delay (as strongSwan does).
   */
  noteInboundTraffic(spiIn: number): void {
    for (const sa of this.all) {
      if (sa.children.some((c) => c.spiIn === spiIn)) {
        sa.lastHeard = this.opts.now();
        return;
      }
    }
  }

  /** Creates (another) CHILD SA from the connection's child config. */
  createChild(connection: string, child: string): boolean {
    const sa = this.newestSa(connection);
    const cfg = sa?.conn.children.find((c) => c.name === child);
    if (!sa || !cfg) return false;
    this.queue(sa, createChildTask(this.ctx, sa, cfg));
    return true;
  }

  rekeyIke(connection: string): boolean {
    const sa = this.newestSa(connection);
    if (!sa) return false;
    this.queue(sa, ikeRekeyTask(this.ctx, sa));
    return true;
  }

  /**
   * Deletes one IKE SA (with its children) by serial, leaving the connection's other IKE SAs up:
   * the break after a make-before-break re-authentication.
   */
  deleteIkeSa(serial: number): boolean {
    for (const sa of this.all) {
      if (sa.serial !== serial || sa.isClosed()) continue;
      // Already being deleted: its DELETE is out, and its SAs must keep accepting what the peer
      // sent before it got that DELETE until the answer comes; destroying it now would not.
      if (sa.state === 'deleting') return true;
      if (sa.state === 'established' || sa.state === 'rekeying' || sa.state === 'rekeyed') this.queue(sa, deleteIkeTask(this.ctx, sa, 're-authenticated'));
      else this.destroy(sa, 're-authenticated');
      return true;
    }
    return false;
  }

  /** Deletes the named child, or the whole IKE SA (with its children) when no child is named. */
  terminate(connection: string, child?: string): boolean {
    const cancelled = child === undefined && this.pacer.cancel(connection);
    const sas = [...this.all].filter((s) => s.name === connection && !s.isClosed());
    if (sas.length === 0) return cancelled;
    for (const sa of sas) {
      if (child !== undefined) {
        for (const c of sa.children.filter((x) => x.cfg.name === child)) this.queue(sa, deleteChildTask(this.ctx, sa, c));
      } else if (sa.state === 'established' || sa.state === 'rekeying' || sa.state === 'rekeyed') {
        this.queue(sa, deleteIkeTask(this.ctx, sa, 'terminated'));
      } else {
        this.destroy(sa, 'terminated');
      }
    }
    this.startPending();
    return true;
  }

  /** Outputs produced since the last poll, in order. */
  poll(): IkeOutput[] {
    const o = this.outputs;
    this.outputs = [];
    return o;
  }

  nextDeadline(): number | undefined {
    let d: number | undefined;
    const min = (t: number | undefined): void => {
      if (t !== undefined && (d === undefined || t < d)) d = t;
    };
    for (const sa of this.all) {
      min(sa.outstanding?.deadline);
      min(sa.expireAt);
      if (sa.state === 'established') {
        min(sa.rekeyAt);
        min(sa.dpdAt);
        for (const c of sa.children) min(c.rekeyAt);
      }
    }
    return d;
  }

  onTimeout(now: number = this.opts.now()): void {
    try {
      this.onTimeoutUnguarded(now);
      this.startPending();
    } catch (e) {
      this.counters.internalErrors++;
      this.outputs.push({ kind: 'log', line: `internal error in timers: ${(e as Error).stack ?? String(e)}` });
    }
  }

  private onTimeoutUnguarded(now: number): void {
    for (const sa of [...this.all]) {
      if (sa.isClosed()) continue;
      const out = sa.outstanding;
      if (out && out.deadline <= now) {
        if (out.tries >= this.timers.retransmit.tries) {
          sa.outstanding = undefined;
          if (out.task.onGiveUp) out.task.onGiveUp();
          else this.destroy(sa, 'peer not responding');
          if (sa.isClosed()) continue;
          this.pump(sa);
        } else {
          out.tries++;
          this.counters.retransmits++;
          if (sa.initiator && sa.establishedAt === undefined) this.pacer.retransmitting(sa.serial);
          out.deadline = sa.retransmitDeadline(this.timers.retransmit, out.tries, now);
          this.ctx.log(sa, `retransmitting ${out.task.name} request (try ${out.tries + 1})`);
          this.send(sa, out.packets);
        }
      }
      if (sa.expireAt !== undefined && sa.expireAt <= now) {
        // Every deadline that fires must be consumed, or the driver would spin on it.
        if (sa.state === 'established') sa.expireAt = undefined;
        else {
          const why = sa.state === 'authenticating' && !sa.initiator && sa.rekeyOf === undefined ? 'half-open timeout' : sa.state === 'rekeyed' || sa.replacedBy ? 'rekeyed' : 'expired';
          this.destroy(sa, why);
          continue;
        }
      }
      if (sa.state !== 'established') continue;
      if (sa.rekeyAt !== undefined && sa.rekeyAt <= now) {
        sa.rekeyAt = undefined;
        this.queue(sa, ikeRekeyTask(this.ctx, sa));
      }
      if (sa.dpdAt !== undefined && sa.dpdAt <= now) {
        const delay = sa.conn.config.dpdDelayMs ?? 0;
        if (now - sa.lastHeard >= delay && !sa.outstanding && sa.queue.length === 0) this.queue(sa, dpdTask(this.ctx, sa));
        sa.dpdAt = Math.max(now, sa.lastHeard) + delay;
      }
      for (const c of [...sa.children]) {
        if (c.rekeyAt === undefined || c.rekeyAt > now) continue;
        c.rekeyAt = undefined;
        if (c.state === 'installed') this.queue(sa, createChildTask(this.ctx, sa, c.cfg, c));
        else if (c.state === 'rekeyed') this.queue(sa, deleteChildTask(this.ctx, sa, c));
      }
    }
  }

  /**
   * The IKE SAs (with their children) of one connection, or all, oldest first: typed views for
   * code that decides things (view.ts). Snapshots: they do not change when the engine does.
   */
  sas(connection?: string): IkeSaView[] {
    const out: IkeSaView[] = [];
    for (const sa of this.all) {
      const v = connection === undefined || sa.name === connection ? ikeSaView(sa) : undefined;
      if (v) out.push(v);
    }
    return out.sort((x, y) => x.serial - y.serial);
  }

  /** One IKE SA by serial, if it is still there. */
  sa(serial: number): IkeSaView | undefined {
    for (const sa of this.all) if (sa.serial === serial) return ikeSaView(sa);
    return undefined;
  }

  /** The text of `status --json` (formatting only; see status.ts). */
  status(): IkeStatus {
    return buildStatus(this.sas(), this.opts.now(), (id) => this.describeId(id), this.counters);
  }

  /** Handles one UDP datagram addressed to us. Never throws on bad input. */
  receive(datagram: Buffer, from: Endpoint, to: Endpoint): void {
    this.counters.received++;
    try {
      this.receiveUnguarded(datagram, from, to);
      this.startPending();
    } catch (e) {
      // A bug or a provider failure must not take the daemon down with it: count, log, drop.
      this.counters.internalErrors++;
      this.outputs.push({ kind: 'log', line: `internal error handling a datagram from ${from.address}:${from.port}: ${(e as Error).stack ?? String(e)}` });
    }
  }

  private receiveUnguarded(datagram: Buffer, from: Endpoint, to: Endpoint): void {
    let dg = datagram;
    if (to.port === this.natTPort || from.port === this.natTPort) {
      if (dg.length < 4 || !dg.subarray(0, 4).equals(NON_ESP_MARKER)) {
        this.counters.notIke++;
        return;
      }
      dg = dg.subarray(4);
    }
    const hr = decodeHeader(dg);
    if (!hr.ok) {
      this.counters.malformed++;
      return;
    }
    const h = hr.value;
    if (h.exchangeType === ExchangeType.IKE_SA_INIT && !isResponse(h)) {
      respondInit(this.initEnv, dg, h, from, to);
      return;
    }
    const ourSpi = fromInitiator(h) ? h.spiR : h.spiI;
    const sa = this.bySpi.get(ourSpi.toString('hex'));
    if (!sa || sa.isClosed()) {
      const again = isResponse(h) ? undefined : this.closedSas.answer(ourSpi.toString('hex'), dg, this.opts.now());
      if (again) {
        this.counters.retransmittedRequests++;
        this.sendRaw(again.packets, again.local, again.remote);
        return;
      }
      this.counters.unknownSpi++;
      return;
    }
    if (h.exchangeType === ExchangeType.IKE_SA_INIT) {
      // A response to our IKE_SA_INIT.
      if (!sa.initiator || sa.state !== 'init-sent' || sa.outstanding?.task.exchange !== ExchangeType.IKE_SA_INIT) {
        this.counters.badMessageId++;
        return;
      }
      const r = decodeMessage(dg, () => undefined);
      if (!r.ok || r.value.kind !== 'message') {
        this.counters.malformed++;
        return;
      }
      sa.initResponse = Buffer.from(dg);
      this.dispatchResponse(sa, r.value.message, from, to);
      return;
    }
    const crypto = sa.crypto;
    if (!crypto) {
      this.counters.unknownSpi++;
      return;
    }
    // The direction must fit our role: the peer sets I exactly when it is the original initiator.
    if (fromInitiator(h) === sa.initiator) {
      this.counters.malformed++;
      return;
    }
    const r = decodeMessage(dg, () => sa.receiveKey(crypto));
    if (!r.ok) {
      if (r.error.cause === 'decrypt-failed' || r.error.cause === 'bad-padding') this.counters.decryptFailed++;
      else if (r.error.cause === 'unsupported-critical') {
        this.counters.unsupportedCritical++;
        if (!isResponse(h) && h.messageId === sa.peerNextRequestId) {
          this.respond(sa, crypto, h.exchangeType, h.messageId, [notify(Notify.UNSUPPORTED_CRITICAL_PAYLOAD, Buffer.from([r.error.payloadType ?? 0]))]);
        }
      } else this.counters.malformed++;
      return;
    }
    let msg: IkeMessage;
    if (r.value.kind === 'fragment') {
      const done = sa.assembler.add(r.value.fragment);
      if (done === 'rejected') {
        this.counters.malformed++;
        return;
      }
      if (!done) return;
      const m = decodeReassembled(done.header, done.innerFirst, done.content);
      if (!m.ok) {
        this.counters.malformed++;
        return;
      }
      msg = m.value;
    } else {
      msg = r.value.message;
    }
    if (isResponse(h)) {
      this.dispatchResponse(sa, msg, from, to);
      return;
    }
    this.dispatchRequest(sa, crypto, msg, from, to);
    // The request closed the SA (a DELETE of it, answered): its answer outlives it for a while.
    if (sa.isClosed() && r.value.kind === 'message' && h.exchangeType === ExchangeType.INFORMATIONAL && sa.lastResponse?.messageId === h.messageId) {
      this.closedSas.remember(ourSpi.toString('hex'), dg, sa.lastResponse.packets, sa.local, sa.remote, this.opts.now());
    }
  }

  // ---------------- dispatch ----------------

  private heard(sa: IkeSa, from: Endpoint, to: Endpoint): void {
    sa.lastHeard = this.opts.now();
    const delay = sa.conn.config.dpdDelayMs ?? 0;
    if (delay > 0 && sa.state === 'established') sa.dpdAt = sa.lastHeard + delay;
    // Follow the peer's NAT mapping (and the float to 4500) on authenticated traffic.
    if (sa.natT || to.port === this.natTPort) {
      sa.remote = { ...from };
      sa.local = { ...to };
    }
  }

  private dispatchResponse(sa: IkeSa, msg: IkeMessage, from: Endpoint, to: Endpoint): void {
    const out = sa.outstanding;
    if (!out || out.messageId !== msg.header.messageId || out.task.exchange !== msg.header.exchangeType) {
      this.counters.badMessageId++;
      return;
    }
    sa.outstanding = undefined;
    if (msg.header.exchangeType !== ExchangeType.IKE_SA_INIT) this.heard(sa, from, to);
    else sa.lastHeard = this.opts.now();
    out.task.onResponse(msg);
    if (msg.header.exchangeType === ExchangeType.IKE_AUTH && sa.state === 'established') compactEstablished(sa);
    if (!sa.isClosed()) this.pump(sa);
  }

  private dispatchRequest(sa: IkeSa, crypto: IkeCrypto, msg: IkeMessage, from: Endpoint, to: Endpoint): void {
    const id = msg.header.messageId;
    if (id !== sa.peerNextRequestId) {
      if (sa.lastResponse && id === sa.lastResponse.messageId) {
        this.counters.retransmittedRequests++;
        this.send(sa, sa.lastResponse.packets);
      } else {
        this.counters.badMessageId++;
      }
      return;
    }
    this.heard(sa, from, to);
    const type = msg.header.exchangeType;
    if (type === ExchangeType.IKE_AUTH) {
      // Only a responder's SA from IKE_SA_INIT takes IKE_AUTH (not one a rekey made).
      if (sa.initiator || sa.state !== 'authenticating' || sa.rekeyOf !== undefined) {
        this.counters.badMessageId++;
        return;
      }
      this.halfOpenByPeer.delete(this.peerKey(sa.remote.address, sa.spiI));
      sa.expireAt = undefined;
      const r = respondAuth(this.ctx, sa, crypto, msg);
      this.respond(sa, crypto, type, id, r.payloads);
      if (!r.ok) this.destroy(sa, 'AUTHENTICATION_FAILED');
      else if (!sa.isClosed()) compactEstablished(sa);
      return;
    }
    // A rekey's new SA not yet taken into use (collision pending) still answers the peer, who
    // already uses it; one still in IKE_AUTH does not.
    if (sa.state === 'init-sent' || (sa.state === 'authenticating' && sa.rekeyOf === undefined)) {
      this.counters.badMessageId++;
      return;
    }
    if (type === ExchangeType.CREATE_CHILD_SA) {
      const saP = findPayload(msg.payloads, PayloadType.SA);
      const isIke = saP?.proposals[0]?.protocolId === ProtocolId.IKE;
      let payloads: Payload[];
      const busy = sa.state === 'deleting' || sa.state === 'rekeyed' || sa.state === 'authenticating' || (sa.state === 'rekeying' && !isIke);
      if (busy) payloads = [notify(Notify.TEMPORARY_FAILURE)];
      else if (isIke) payloads = respondIkeRekey(this.ctx, sa, msg);
      else payloads = respondCreateChild(this.ctx, sa, crypto, msg);
      this.respond(sa, crypto, type, id, payloads);
      return;
    }
    if (type === ExchangeType.INFORMATIONAL) {
      const r = respondInformational(this.ctx, sa, msg);
      this.respond(sa, crypto, type, id, r.payloads);
      if (r.destroy) this.destroy(sa, r.destroy);
      return;
    }
    this.counters.malformed++;
  }

  private peerKey(address: string, spiI: Buffer): string {
    return `${address}|${spiI.toString('hex')}`;
  }

  private halfOpenCount(): number {
    let n = 0;
    for (const sa of this.all) if (sa.state === 'authenticating' && !sa.initiator && sa.rekeyOf === undefined) n++;
    return n;
  }

  private findConnFor(local: Endpoint, remote: Endpoint): ResolvedConnection | undefined {
    const fits = (list: string[], a: string): boolean => list.length === 0 || list.includes(a) || list.includes('%any') || list.includes('0.0.0.0');
    for (const c of this.conns.values()) {
      if (fits(c.config.localAddrs, local.address) && fits(c.config.remoteAddrs, remote.address)) return c;
    }
    return undefined;
  }

  // ---------------- machinery ----------------

  private queue(sa: IkeSa, task: Task): void {
    sa.queue.push(task);
    this.pump(sa);
  }

  /** Sends the next queued request when none is outstanding (window size 1, §2.3). */
  private pump(sa: IkeSa): void {
    while (!sa.outstanding && sa.queue.length > 0 && !sa.isClosed()) {
      const task = sa.queue.shift()!;
      const payloads = task.build();
      if (!payloads) continue;
      if (sa.isClosed()) return;
      let packets: Buffer[];
      if (task.exchange === ExchangeType.IKE_SA_INIT) {
        const bytes = encodePlain({ spiI: sa.spiI, spiR: Buffer.alloc(8), exchangeType: task.exchange, flags: sa.flags(false), messageId: sa.nextRequestId }, payloads);
        sa.initRequest = bytes;
        packets = [bytes];
      } else {
        const crypto = sa.crypto;
        if (!crypto) continue; // nothing protected can go out before IKE_SA_INIT is done
        packets = sa.protect(crypto, task.exchange, sa.nextRequestId, false, payloads);
      }
      const messageId = sa.nextRequestId++;
      const now = this.opts.now();
      sa.outstanding = { task, messageId, packets, tries: 0, deadline: sa.retransmitDeadline(this.timers.retransmit, 0, now) };
      this.send(sa, packets);
    }
  }

  private respond(sa: IkeSa, crypto: IkeCrypto, exchangeType: number, messageId: number, payloads: Payload[]): void {
    const packets = sa.protect(crypto, exchangeType, messageId, true, payloads);
    // Kept until the peer's next request (retransmissions are answered from it, §2.1).
    sa.lastResponse = { messageId, packets: packets.map(owned) };
    sa.peerNextRequestId = messageId + 1;
    this.send(sa, packets);
  }

  private send(sa: IkeSa, packets: Buffer[]): void {
    this.sendRaw(packets, sa.local, sa.remote);
  }

  private sendRaw(packets: Buffer[], from: Endpoint, to: Endpoint): void {
    for (const p of packets) {
      const bytes = from.port === this.natTPort || to.port === this.natTPort ? Buffer.concat([NON_ESP_MARKER, p]) : p;
      this.outputs.push({ kind: 'send', bytes, from: { ...from }, to: { ...to } });
    }
  }

  private register(sa: IkeSa): void {
    this.all.add(sa);
    this.bySpi.set(sa.ourSpi.toString('hex'), sa);
  }

  private allocateIkeSpi(): Buffer {
    for (;;) {
      const spi = this.opts.random(8);
      if (!spi.every((b) => b === 0) && !this.bySpi.has(spi.toString('hex'))) return spi;
    }
  }

  private allocateChildSpi(): number {
    for (;;) {
      const spi = this.opts.random(4).readUInt32BE(0);
      if (spi > 255 && !this.childSpis.has(spi)) {
        this.childSpis.add(spi);
        return spi;
      }
    }
  }

  private destroy(sa: IkeSa, reason: string): void {
    if (sa.isClosed()) return;
    const wasUp = sa.establishedAt !== undefined;
    for (const c of [...sa.children]) this.childDown(sa, c, reason);
    sa.transition('closed', reason, (o) => this.outputs.push(o));
    sa.outstanding = undefined;
    sa.queue.length = 0;
    this.pacer.settled(sa.serial, false);
    this.all.delete(sa);
    if (this.bySpi.get(sa.ourSpi.toString('hex')) === sa) this.bySpi.delete(sa.ourSpi.toString('hex'));
    const key = this.peerKey(sa.remote.address, sa.spiI);
    if (this.halfOpenByPeer.get(key) === sa) this.halfOpenByPeer.delete(key);
    for (const [k, v] of this.halfOpenByPeer) if (v === sa) this.halfOpenByPeer.delete(k);
    // A failed initiation of ours is reported too (established: false); a responder's half-open
    // SA or a rekey's redundant new SA never announced is not (events.ts).
    if (wasUp || (sa.initiator && sa.rekeyOf === undefined)) {
      this.ctx.log(sa, `IKE SA deleted (${reason})`);
      const down: IkeOutput = { kind: 'ike-down', name: sa.name, serial: sa.serial, spiI: sa.spiI, spiR: sa.spiR, reason, established: wasUp };
      if (sa.replacedBy) down.replacedBy = sa.replacedBy.serial;
      this.outputs.push(down);
    }
  }

  private childDown(exchangeSa: IkeSa, child: ChildSa, reason: string): void {
    // The child may have moved to a successor IKE SA since the exchange started.
    let sa: IkeSa | undefined = exchangeSa;
    while (sa && !sa.children.includes(child)) sa = sa.replacedBy;
    if (!sa) return;
    sa.children.splice(sa.children.indexOf(child), 1);
    this.childSpis.delete(child.spiIn);
    this.ctx.log(sa, `ESP SA deleted {ESP=>0x${child.spiOut.toString(16).padStart(8, '0')} <0x${child.spiIn.toString(16).padStart(8, '0')}} (${reason})`, child);
    this.outputs.push({ kind: 'child-down', spiIn: child.spiIn, spiOut: child.spiOut, name: `${sa.name}/${child.cfg.name}`, reason });
  }

  private childUp(sa: IkeSa, child: ChildSa, replaces?: ChildSa): void {
    const rekey = child.cfg.config.rekeyTimeMs ?? 0;
    if (rekey > 0) child.rekeyAt = this.opts.now() + rekey - this.jitter(rekey);
    const spec: ChildSpec = {
      name: `${sa.name}/${child.cfg.name}`,
      connection: sa.name,
      child: child.cfg.name,
      mode: child.mode,
      local: sa.local.address,
      remote: sa.remote.address,
      localPort: sa.natT ? this.natTPort : sa.local.port,
      remotePort: sa.remote.port,
      localTs: child.localTs,
      remoteTs: child.remoteTs,
      spiIn: child.spiIn,
      spiOut: child.spiOut,
      keyIn: child.keyIn,
      keyOut: child.keyOut,
      proposal: proposalName(child.chosen),
    };
    const lb = child.cfg.config.lifeBytes ?? 0;
    const lp = child.cfg.config.lifePackets ?? 0;
    if (lb > 0 || lp > 0) {
      spec.hardLifetime = { ...(lb > 0 ? { bytes: lb } : {}), ...(lp > 0 ? { packets: lp } : {}) };
      spec.softLifetime = { ...(lb > 0 ? { bytes: Math.floor(lb * 0.9) } : {}), ...(lp > 0 ? { packets: Math.floor(lp * 0.9) } : {}) };
    }
    if (replaces) spec.replacesSpiIn = child.replacesSpiIn = replaces.spiIn;
    if (child.answered) spec.deferOutbound = true;
    this.outputs.push({ kind: 'child-up', spec });
    // The spec carries the keys to the data path; the engine needs no copy of them after this.
    child.keyIn = EMPTY_KEY;
    child.keyOut = EMPTY_KEY;
  }

  private ikeUp(sa: IkeSa, crypto: IkeCrypto, reason: string): void {
    const now = this.opts.now();
    sa.transition('established', reason, (o) => this.outputs.push(o));
    sa.establishedAt = now;
    this.pacer.settled(sa.serial, true);
    sa.expireAt = undefined;
    const rekey = sa.conn.config.rekeyTimeMs ?? 0;
    if (rekey > 0) sa.rekeyAt = now + rekey - this.jitter(rekey);
    const dpd = sa.conn.config.dpdDelayMs ?? 0;
    if (dpd > 0) sa.dpdAt = now + dpd;
    const k = crypto.keys;
    this.outputs.push({
      kind: 'ike-up', name: sa.name, serial: sa.serial, initiator: sa.initiator, spiI: sa.spiI, spiR: sa.spiR, local: { ...sa.local }, remote: { ...sa.remote },
      keys: { spiI: sa.spiI, spiR: sa.spiR, skEi: k.skEi, skEr: k.skEr, skAi: k.skAi, skAr: k.skAr, encr: `AES-GCM-${crypto.proposal.encr.keyLength}` },
      ...(sa.rekeyOf !== undefined ? { replaces: sa.rekeyOf } : {}),
    });
  }

  /**
   * Up to 10% off a rekey time, so that two ends configured alike rarely rekey at the same moment
   * (strongSwan's rand_time does the same); collisions are still handled when they happen.
   */
  private jitter(ms: number): number {
    return Math.floor((this.opts.random(2).readUInt16BE(0) / 0xffff) * ms * 0.1);
  }

  private newestSa(connection: string): IkeSa | undefined {
    let best: IkeSa | undefined;
    for (const sa of this.all) {
      // An IKE SA whose own rekey is in flight still counts: work queued on it moves to its successor.
      const usable = sa.state === 'established' || sa.state === 'rekeying';
      if (sa.name === connection && usable && (!best || sa.serial > best.serial)) best = sa;
    }
    return best;
  }

  private requireConn(name: string): ResolvedConnection {
    const c = this.conns.get(name);
    if (!c) throw new RangeError(`no connection named "${name}"`);
    return c;
  }

  /** An identity as text: the auth provider's form (e.g. a node name) or RFC 7296's ID types. */
  describeId(id: IkeId | undefined): string {
    if (!id) return '(none)';
    const custom = this.opts.auth.describeId?.(id);
    if (custom) return custom;
    try {
      return idToString(id);
    } catch {
      return `${id.type}:${id.data.toString('hex')}`;
    }
  }

  private makeContext(): EngineContext {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    return {
      now: () => self.opts.now(),
      random: (n) => self.opts.random(n),
      auth: self.opts.auth,
      timers: self.timers,
      emit: (o) => self.outputs.push(o),
      log(sa, text, child) {
        const serial = child ? child.serial : sa.serial;
        self.outputs.push({ kind: 'log', line: `"${sa.name}" #${serial}: ${text}` });
      },
      nextSerial: () => ++self.serial,
      allocateChildSpi: () => self.allocateChildSpi(),
      allocateIkeSpi: () => self.allocateIkeSpi(),
      register: (sa) => self.register(sa),
      destroy: (sa, reason) => self.destroy(sa, reason),
      queue: (sa, task) => self.queue(sa, task),
      childUp: (sa, c, r) => self.childUp(sa, c, r),
      childDown: (sa, c, reason) => self.childDown(sa, c, reason),
      ikeUp: (sa, crypto, reason) => self.ikeUp(sa, crypto, reason),
      transition: (sa, to, reason) => sa.transition(to, reason, (o) => self.outputs.push(o)),
      schedule: () => undefined,
      initialContact(sa) {
        for (const other of [...self.all]) {
          if (other !== sa && other.name === sa.name && other.remote.address === sa.remote.address && !other.isClosed() && other.establishedAt !== undefined && other.replacedBy === undefined) {
            self.ctx.log(other, 'INITIAL_CONTACT: deleting older IKE SA of this peer');
            self.destroy(other, 'INITIAL_CONTACT');
          }
        }
      },
      describeId: (id) => self.describeId(id),
      hasOtherIkeSa(sa) {
        for (const o of self.all) if (o !== sa && o.remote.address === sa.remote.address && !o.isClosed() && o.establishedAt !== undefined) return true;
        return false;
      },
      siblings(sa) {
        const fits = (list: string[], a: string): boolean => list.length === 0 || list.includes(a) || list.includes('%any') || list.includes('0.0.0.0');
        return [...self.conns.values()].filter((c) => c !== sa.conn && fits(c.config.localAddrs, sa.local.address) && fits(c.config.remoteAddrs, sa.remote.address));
      },
      startOtherChildren(sa, except) {
        for (const c of sa.conn.children) {
          // 'trap' children start eagerly too: the data path has no acquire upcall to start them on demand.
          if (c.name !== except && (c.config.startAction ?? 'start') !== 'none') self.queue(sa, createChildTask(self.ctx, sa, c));
        }
      },
    };
  }
}

export type { IkeStatus };
