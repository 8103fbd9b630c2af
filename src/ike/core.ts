import type { IkeAuthProvider, IkeId } from './auth-provider.js';
import { idToString } from './auth/id.js';
import { resolveConnection, type IkeConnectionConfig, type ResolvedConnection } from './config.js';
import { ExchangeType } from './constants.js';
import { DEFAULT_TIMERS, type EngineContext, type EngineTimers } from './context.js';
import { ClosedSaAnswers } from './closed-sas.js';
import type { Endpoint, IkeOutput, NegotiatedChild } from './events.js';
import { encodePlain } from './message/message.js';
import type { Payload } from './message/payloads.js';
import { InitiationPacer } from './pacer.js';
import { RttEstimator } from './rtt.js';
import { proposalName } from './proposals.js';
import type { ChildSa } from './sa/child-sa.js';
import { owned } from './sa/compact.js';
import type { IkeCrypto, IkeSa } from './sa/ike-sa.js';
import { SaTable } from './sa-table.js';
import type { Task, TaskOutcome } from './tasks/task.js';

export interface IkeEngineOptions {
  /** Milliseconds; injected so that tests and simulations control time. */
  now: () => number;
  random: (n: number) => Buffer;
  connections: IkeConnectionConfig[];
  auth: IkeAuthProvider;
  timers?: Partial<EngineTimers>;
  /**
   * The NAT-T port (RFC 3948): traffic to or from it follows the peer's address and port. The
   * socket adds and strips the non-ESP marker there; the engine only ever sees IKE messages.
   */
  natTPort?: number;
  /**
   * When the data path last received authentic ESP on the child whose inbound SPI this is (ms),
   * asked when a liveness check is due (strongSwan's query_sa use time): inbound ESP proves the
   * peer alive, so DPD probes only peers silent in both IKE and ESP.
   */
  lastInbound?: (spiIn: number) => number | undefined;
}

/** Why inbound datagrams were dropped, counted by cause. */
export interface IkeCounters {
  received: number;
  malformed: number;
  decryptFailed: number;
  unknownSpi: number;
  badMessageId: number;
  retransmittedRequests: number;
  halfOpenLimit: number;
  cookiesSent: number;
  unsupportedCritical: number;
  retransmits: number;
  /** Exceptions caught at the engine boundary (should stay 0). */
  internalErrors: number;
}

const EMPTY_KEY = Buffer.alloc(0);

/**
 * What the engine's parts share: connections, SAs, outputs, counters, and the machinery that
 * runs exchanges on an IKE SA (queue → request out → outcome; responses; destroy; up/down
 * events). The public API is IkeEngine (engine.ts); the receive path is receive.ts, the timers
 * timers.ts. Still sans-I/O: everything leaves as an output.
 */
export class EngineCore {
  readonly conns = new Map<string, ResolvedConnection>();
  readonly table: SaTable;
  /** Answers to the DELETEs that closed IKE SAs, for the peer's retransmits (closed-sas.ts). */
  readonly closedSas = new ClosedSaAnswers();
  outputs: IkeOutput[] = [];
  private serial = 0;
  readonly timers: EngineTimers;
  readonly natTPort: number;
  readonly pacer: InitiationPacer;
  /** Round trips of answered requests: the first retransmission timeout (rtt.ts). */
  readonly rtt: RttEstimator;
  readonly ctx: EngineContext;
  readonly counters: IkeCounters = {
    received: 0, malformed: 0, decryptFailed: 0, unknownSpi: 0, badMessageId: 0, retransmittedRequests: 0,
    halfOpenLimit: 0, cookiesSent: 0, unsupportedCritical: 0, retransmits: 0, internalErrors: 0,
  };

  constructor(readonly opts: IkeEngineOptions) {
    for (const c of opts.connections) this.conns.set(c.name, resolveConnection(c));
    this.timers = { ...DEFAULT_TIMERS, ...opts.timers };
    this.natTPort = opts.natTPort ?? 4500;
    this.table = new SaTable(opts.random);
    this.pacer = new InitiationPacer(this.timers.initiationWindow, this.timers.initiationSpacingMs, () => opts.random(4).readUInt32BE(0) / 2 ** 32);
    const r = this.timers.retransmit;
    this.rtt = new RttEstimator(r.timeoutMs, r.ceilingMs ?? 4 * r.timeoutMs);
    this.ctx = this.makeContext();
  }

  now(): number {
    return this.opts.now();
  }

  nextSerial(): number {
    return ++this.serial;
  }

  /** Reports an exception caught at the engine boundary: counted and logged, never thrown at the daemon. */
  internalError(where: string, e: unknown): void {
    this.counters.internalErrors++;
    this.outputs.push({ kind: 'log', line: `internal error ${where}: ${(e as Error).stack ?? String(e)}` });
  }

  queue(sa: IkeSa, task: Task): void {
    sa.queue.push(task);
    this.pump(sa);
  }

  /** Sends the next queued request when none is outstanding (window size 1, §2.3). */
  pump(sa: IkeSa): void {
    while (!sa.outstanding && !sa.isClosed()) {
      const task = sa.queue.shift();
      if (!task) return;
      const built = task.build();
      if (!Array.isArray(built)) {
        // Moot: nothing goes out; what it asks for instead is done.
        this.apply(sa, built);
        continue;
      }
      if (sa.isClosed()) return;
      const sent = this.request(sa, task.exchange, built);
      const now = this.now();
      const firstMs = this.rtt.rtoMs;
      if (sent) sa.outstanding = { task, ...sent, tries: 0, sentAt: now, firstMs, deadline: sa.retransmitDeadline(this.timers.retransmit, 0, now, firstMs) };
    }
  }

  /** Sends a request with the next message ID; undefined when the SA has no keys for a protected one. */
  private request(sa: IkeSa, exchange: number, payloads: Payload[]): { messageId: number; packets: Buffer[] } | undefined {
    let packets: Buffer[];
    if (exchange === ExchangeType.IKE_SA_INIT) {
      const bytes = encodePlain({ spiI: sa.spiI, spiR: Buffer.alloc(8), exchangeType: exchange, flags: sa.flags(false), messageId: sa.nextRequestId }, payloads);
      sa.initRequest = bytes;
      packets = [bytes];
    } else {
      const crypto = sa.crypto;
      if (!crypto) return undefined; // nothing protected can go out before IKE_SA_INIT is done
      packets = sa.protect(crypto, exchange, sa.nextRequestId, false, payloads);
    }
    const messageId = sa.nextRequestId++;
    this.send(sa, packets);
    return { messageId, packets };
  }

  /** Carries out what a task step asked for (tasks/task.ts). */
  apply(sa: IkeSa, outcome: TaskOutcome): void {
    switch (outcome.kind) {
      case 'done':
        return;
      case 'next':
        for (const q of outcome.queue) this.queue(q.sa, q.task);
        return;
      case 'destroy':
        // The farewell goes out once, unanswered: the SA is gone when an answer could come.
        if (outcome.farewell) this.request(sa, ExchangeType.INFORMATIONAL, outcome.farewell);
        this.destroy(sa, outcome.reason);
        return;
    }
  }

  respond(sa: IkeSa, crypto: IkeCrypto, exchangeType: number, messageId: number, payloads: Payload[]): void {
    const packets = sa.protect(crypto, exchangeType, messageId, true, payloads);
    // Kept until the peer's next request (retransmissions are answered from it, §2.1).
    sa.lastResponse = { messageId, packets: packets.map(owned) };
    sa.peerNextRequestId = messageId + 1;
    this.send(sa, packets);
  }

  send(sa: IkeSa, packets: Buffer[]): void {
    this.sendRaw(packets, sa.local, sa.remote);
  }

  sendRaw(packets: Buffer[], from: Endpoint, to: Endpoint): void {
    for (const bytes of packets) this.outputs.push({ kind: 'send', bytes, from: { ...from }, to: { ...to } });
  }

  destroy(sa: IkeSa, reason: string): void {
    if (sa.isClosed()) return;
    const wasUp = sa.establishedAt !== undefined;
    const inFlight = sa.outstanding?.task;
    for (const c of [...sa.children]) this.childDown(sa, c, reason);
    sa.transition('closed', reason, (o) => this.outputs.push(o));
    sa.outstanding = undefined;
    sa.queue.length = 0;
    this.pacer.settled(sa.serial, false);
    this.table.remove(sa);
    // A failed initiation of ours is reported too (established: false); a responder's half-open
    // SA or a rekey's redundant new SA never announced is not (events.ts).
    if (wasUp || (sa.initiator && sa.rekeyOf === undefined)) {
      this.ctx.log(sa, `IKE SA deleted (${reason})`);
      const down: IkeOutput = { kind: 'ike-down', name: sa.name, serial: sa.serial, spiI: sa.spiI, spiR: sa.spiR, reason, established: wasUp };
      if (sa.replacedBy) down.replacedBy = sa.replacedBy.serial;
      this.outputs.push(down);
    }
    // A request still unanswered on an SA a rekey replaced goes again on its successor, when
    // repeating it is harmless (Task.resend).
    const heir = sa.replacedBy ? sa.current : undefined;
    const again = heir && !heir.isClosed() ? inFlight?.resend?.(heir) : undefined;
    if (heir && again) this.queue(heir, again);
  }

  childDown(exchangeSa: IkeSa, child: ChildSa, reason: string): void {
    // The child may have moved to a successor IKE SA since the exchange started.
    let sa: IkeSa | undefined = exchangeSa;
    while (sa && !sa.children.includes(child)) sa = sa.replacedBy;
    if (!sa) return;
    sa.children.splice(sa.children.indexOf(child), 1);
    this.table.releaseChildSpi(child.spiIn);
    this.ctx.log(sa, `ESP SA deleted {ESP=>0x${child.spiOut.toString(16).padStart(8, '0')} <0x${child.spiIn.toString(16).padStart(8, '0')}} (${reason})`, child);
    this.outputs.push({ kind: 'child-down', spiIn: child.spiIn, spiOut: child.spiOut, name: `${sa.name}/${child.cfg.name}`, reason });
  }

  childUp(sa: IkeSa, child: ChildSa, replaces?: ChildSa): void {
    const rekey = child.cfg.config.rekeyTimeMs ?? 0;
    if (rekey > 0) child.rekeyAt = this.now() + rekey - this.jitter(rekey);
    const spec: NegotiatedChild = {
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

  /** The one place an IKE SA becomes established (after IKE_AUTH, or a rekey that made it). */
  ikeUp(sa: IkeSa, crypto: IkeCrypto, reason: string): void {
    const now = this.now();
    sa.transition('established', reason, (o) => this.outputs.push(o));
    sa.establishedAt = now;
    this.pacer.settled(sa.serial, true);
    sa.expireAt = undefined;
    const rekey = sa.conn.config.rekeyTimeMs ?? 0;
    if (rekey > 0) sa.rekeyAt = now + rekey - this.jitter(rekey);
    const dpd = sa.livenessDelayMs();
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

  /** Connections whose address lists admit this pair of endpoints, in configuration order. */
  connectionsFor(local: Endpoint, remote: Endpoint): ResolvedConnection[] {
    const fits = (list: string[], a: string): boolean => list.length === 0 || list.includes(a) || list.includes('%any') || list.includes('0.0.0.0');
    return [...this.conns.values()].filter((c) => fits(c.config.localAddrs, local.address) && fits(c.config.remoteAddrs, remote.address));
  }

  private log(sa: IkeSa, text: string, child?: ChildSa): void {
    this.outputs.push({ kind: 'log', line: `"${sa.name}" #${child ? child.serial : sa.serial}: ${text}` });
  }

  private makeContext(): EngineContext {
    return {
      now: () => this.now(),
      random: (n) => this.opts.random(n),
      auth: this.opts.auth,
      timers: this.timers,
      emit: (o) => this.outputs.push(o),
      log: (sa, text, child) => this.log(sa, text, child),
      nextSerial: () => this.nextSerial(),
      allocateChildSpi: () => this.table.allocateChildSpi(),
      allocateIkeSpi: () => this.table.allocateIkeSpi(),
      register: (sa) => this.table.register(sa),
      childUp: (sa, c, r) => this.childUp(sa, c, r),
      childDown: (sa, c, reason) => this.childDown(sa, c, reason),
      ikeUp: (sa, crypto, reason) => this.ikeUp(sa, crypto, reason),
      transition: (sa, to, reason) => sa.transition(to, reason, (o) => this.outputs.push(o)),
      initialContact: (sa) => {
        for (const other of [...this.table.all]) {
          if (other !== sa && other.name === sa.name && other.remote.address === sa.remote.address && !other.isClosed() && other.establishedAt !== undefined && other.replacedBy === undefined) {
            this.log(other, 'INITIAL_CONTACT: deleting older IKE SA of this peer');
            this.destroy(other, 'INITIAL_CONTACT');
          }
        }
      },
      describeId: (id) => this.describeId(id),
      hasOtherIkeSa: (sa) => this.table.hasOtherWithPeer(sa),
      siblings: (sa) => this.connectionsFor(sa.local, sa.remote).filter((c) => c !== sa.conn),
    };
  }
}
