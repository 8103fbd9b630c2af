import { ExchangeType, Notify, PayloadType, ProtocolId } from './constants.js';
import { CookieJar } from './cookies.js';
import type { EngineCore } from './core.js';
import type { Endpoint } from './events.js';
import { decodeHeader, fromInitiator, isResponse, type IkeHeader } from './message/header.js';
import { decodeMessage, decodeReassembled, type IkeMessage } from './message/message.js';
import { findPayload, notify, type Payload } from './message/payloads.js';
import { compactEstablished } from './sa/compact.js';
import type { IkeCrypto, IkeSa } from './sa/ike-sa.js';
import { SaTable } from './sa-table.js';
import { respondCreateChild } from './tasks/create-child.js';
import { respondAuth } from './tasks/ike-auth.js';
import { respondInit, type InitResponderEnv } from './tasks/ike-init-responder.js';
import { respondIkeRekey } from './tasks/ike-rekey.js';
import { respondInformational } from './tasks/informational.js';

/**
 * The receive path: one UDP datagram → the IKE SA it belongs to → the answer to our request
 * (the task's outcome) or the response to the peer's (RFC 7296 §2.1–§2.2: message IDs, one
 * exchange at a time each way, retransmitted requests answered from cache). Drops are counted
 * by cause.
 */
export class Receiver {
  private readonly initEnv: InitResponderEnv;

  constructor(private readonly core: EngineCore) {
    const table = core.table;
    this.initEnv = {
      ctx: core.ctx,
      cookies: new CookieJar(core.opts.random),
      counters: core.counters,
      halfOpenByPeer: table.halfOpenByPeer,
      peerKey: (a, s) => SaTable.peerKey(a, s),
      halfOpenCount: () => table.halfOpenCount(),
      findConn: (l, r) => core.connectionsFor(l, r)[0],
      sendRaw: (p, f, t) => core.sendRaw(p, f, t),
    };
  }

  receive(dg: Buffer, from: Endpoint, to: Endpoint): void {
    const { core } = this;
    const counters = core.counters;
    const hr = decodeHeader(dg);
    if (!hr.ok) {
      counters.malformed++;
      return;
    }
    const h = hr.value;
    if (h.exchangeType === ExchangeType.IKE_SA_INIT && !isResponse(h)) {
      respondInit(this.initEnv, dg, h, from, to);
      return;
    }
    const ourSpi = fromInitiator(h) ? h.spiR : h.spiI;
    const sa = core.table.byOurSpi(ourSpi);
    if (!sa || sa.isClosed()) {
      const again = isResponse(h) ? undefined : core.closedSas.answer(ourSpi.toString('hex'), dg, core.now());
      if (again) {
        counters.retransmittedRequests++;
        core.sendRaw(again.packets, again.local, again.remote);
        return;
      }
      counters.unknownSpi++;
      return;
    }
    if (h.exchangeType === ExchangeType.IKE_SA_INIT) {
      this.initResponse(sa, dg, from, to);
      return;
    }
    const crypto = sa.crypto;
    if (!crypto) {
      counters.unknownSpi++;
      return;
    }
    // The direction must fit our role: the peer sets I exactly when it is the original initiator.
    if (fromInitiator(h) === sa.initiator) {
      counters.malformed++;
      return;
    }
    const m = this.open(sa, crypto, dg, h);
    if (!m) return;
    if (isResponse(h)) {
      this.dispatchResponse(sa, m.msg, from, to);
      return;
    }
    this.dispatchRequest(sa, crypto, m.msg, from, to);
    // The request closed the SA (a DELETE of it, answered): its answer outlives it for a while.
    if (sa.isClosed() && !m.fragmented && h.exchangeType === ExchangeType.INFORMATIONAL && sa.lastResponse?.messageId === h.messageId) {
      core.closedSas.remember(ourSpi.toString('hex'), dg, sa.lastResponse.packets, sa.local, sa.remote, core.now());
    }
  }

  /** A response to our IKE_SA_INIT (in clear). */
  private initResponse(sa: IkeSa, dg: Buffer, from: Endpoint, to: Endpoint): void {
    if (!sa.initiator || sa.state !== 'init-sent' || sa.outstanding?.task.exchange !== ExchangeType.IKE_SA_INIT) {
      this.core.counters.badMessageId++;
      return;
    }
    const r = decodeMessage(dg, () => undefined);
    if (!r.ok || r.value.kind !== 'message') {
      this.core.counters.malformed++;
      return;
    }
    sa.initResponse = Buffer.from(dg);
    this.dispatchResponse(sa, r.value.message, from, to);
  }

  /** Decrypts a protected message (reassembling fragments, RFC 7383); undefined when there is none yet or it is bad. */
  private open(sa: IkeSa, crypto: IkeCrypto, dg: Buffer, h: IkeHeader): { msg: IkeMessage; fragmented: boolean } | undefined {
    const counters = this.core.counters;
    const r = decodeMessage(dg, () => sa.receiveKey(crypto));
    if (!r.ok) {
      if (r.error.cause === 'decrypt-failed' || r.error.cause === 'bad-padding') counters.decryptFailed++;
      else if (r.error.cause === 'unsupported-critical') {
        counters.unsupportedCritical++;
        if (!isResponse(h) && h.messageId === sa.peerNextRequestId) {
          this.core.respond(sa, crypto, h.exchangeType, h.messageId, [notify(Notify.UNSUPPORTED_CRITICAL_PAYLOAD, Buffer.from([r.error.payloadType ?? 0]))]);
        }
      } else counters.malformed++;
      return undefined;
    }
    if (r.value.kind === 'message') return { msg: r.value.message, fragmented: false };
    const done = sa.assembler.add(r.value.fragment);
    if (done === 'rejected') {
      counters.malformed++;
      return undefined;
    }
    if (!done) return undefined;
    const m = decodeReassembled(done.header, done.innerFirst, done.content);
    if (!m.ok) {
      counters.malformed++;
      return undefined;
    }
    return { msg: m.value, fragmented: true };
  }

  /** Authenticated traffic from the peer: it is alive, and where it now is. */
  private heard(sa: IkeSa, from: Endpoint, to: Endpoint): void {
    sa.lastHeard = this.core.now();
    const delay = sa.livenessDelayMs();
    if (delay > 0 && sa.state === 'established') sa.dpdAt = sa.lastHeard + delay;
    // Follow the peer's NAT mapping (and the float to 4500) on authenticated traffic.
    if (sa.natT || to.port === this.core.natTPort) {
      sa.remote = { ...from };
      sa.local = { ...to };
    }
  }

  private dispatchResponse(sa: IkeSa, msg: IkeMessage, from: Endpoint, to: Endpoint): void {
    const out = sa.outstanding;
    if (!out || out.messageId !== msg.header.messageId || out.task.exchange !== msg.header.exchangeType) {
      this.core.counters.badMessageId++;
      return;
    }
    sa.outstanding = undefined;
    // Karn: only a request answered at its first send measures the round trip.
    if (out.tries === 0) this.core.rtt.sample(this.core.now() - out.sentAt);
    if (msg.header.exchangeType !== ExchangeType.IKE_SA_INIT) this.heard(sa, from, to);
    else sa.lastHeard = this.core.now();
    this.core.apply(sa, out.task.onResponse(msg));
    if (msg.header.exchangeType === ExchangeType.IKE_AUTH && sa.state === 'established') compactEstablished(sa);
    if (!sa.isClosed()) this.core.pump(sa);
  }

  private dispatchRequest(sa: IkeSa, crypto: IkeCrypto, msg: IkeMessage, from: Endpoint, to: Endpoint): void {
    const { core } = this;
    const id = msg.header.messageId;
    if (id !== sa.peerNextRequestId) {
      if (sa.lastResponse && id === sa.lastResponse.messageId) {
        core.counters.retransmittedRequests++;
        core.send(sa, sa.lastResponse.packets);
      } else {
        core.counters.badMessageId++;
      }
      return;
    }
    this.heard(sa, from, to);
    const type = msg.header.exchangeType;
    if (type === ExchangeType.IKE_AUTH) {
      // Only a responder's SA from IKE_SA_INIT takes IKE_AUTH (not one a rekey made).
      if (sa.initiator || sa.state !== 'authenticating' || sa.rekeyOf !== undefined) {
        core.counters.badMessageId++;
        return;
      }
      core.table.halfOpenByPeer.delete(SaTable.peerKey(sa.remote.address, sa.spiI));
      sa.expireAt = undefined;
      const r = respondAuth(core.ctx, sa, crypto, msg);
      core.respond(sa, crypto, type, id, r.payloads);
      if (!r.ok) core.destroy(sa, 'AUTHENTICATION_FAILED');
      else if (!sa.isClosed()) compactEstablished(sa);
      return;
    }
    // A rekey's new SA not yet taken into use (collision pending) still answers the peer, who
    // already uses it; one still in IKE_AUTH does not.
    if (sa.state === 'init-sent' || (sa.state === 'authenticating' && sa.rekeyOf === undefined)) {
      core.counters.badMessageId++;
      return;
    }
    if (type === ExchangeType.CREATE_CHILD_SA) {
      const isIke = findPayload(msg.payloads, PayloadType.SA)?.proposals[0]?.protocolId === ProtocolId.IKE;
      // Nothing new on an SA on its way out or not yet in use; while our IKE rekey is out only
      // the peer's IKE rekey is taken (a collision, §2.8.2).
      const busy = sa.state === 'deleting' || sa.state === 'rekeyed' || sa.state === 'authenticating' || (sa.state === 'rekeying' && !isIke);
      if (busy || !isIke) {
        const payloads: Payload[] = busy ? [notify(Notify.TEMPORARY_FAILURE)] : respondCreateChild(core.ctx, sa, crypto, msg);
        core.respond(sa, crypto, type, id, payloads);
        return;
      }
      const r = respondIkeRekey(core.ctx, sa, msg);
      core.respond(sa, crypto, type, id, r.payloads);
      // Child work that moved to the new SA goes out after the answer that makes it usable.
      for (const q of r.queue) core.queue(q.sa, q.task);
      return;
    }
    if (type === ExchangeType.INFORMATIONAL) {
      const r = respondInformational(core.ctx, sa, msg);
      core.respond(sa, crypto, type, id, r.payloads);
      if (r.destroy) core.destroy(sa, r.destroy);
      return;
    }
    core.counters.malformed++;
  }
}
