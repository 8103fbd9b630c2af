import { generateDh, isSupportedGroup } from '../../crypto/dh.js';
import type { ResolvedConnection } from '../config.js';
import { CertEncoding, ExchangeType, Flag, Notify, PayloadType } from '../constants.js';
import type { EngineContext } from '../context.js';
import type { CookieJar } from '../cookies.js';
import type { Endpoint } from '../events.js';
import { fromInitiator, type IkeHeader } from '../message/header.js';
import { decodeMessage, encodePlain } from '../message/message.js';
import { findNotify, findPayload, notify, type Payload } from '../message/payloads.js';
import { buildAnswer, proposalName, selectProposal } from '../proposals.js';
import { owned } from '../sa/compact.js';
import { IkeSa } from '../sa/ike-sa.js';
import { ikeProposal } from '../sa/phase.js';
import { u16 } from './child.js';
import { checkNat, commonInitNotifies, deriveInitKeys, natPayloads, NONCE_LENGTH, readHashAlgs } from './ike-init.js';

/** What the IKE_SA_INIT responder needs from the engine besides the task context. */
export interface InitResponderEnv {
  ctx: EngineContext;
  cookies: CookieJar;
  counters: { malformed: number; badMessageId: number; retransmittedRequests: number; unsupportedCritical: number; halfOpenLimit: number; cookiesSent: number };
  /** Responder SAs by (peer address, SPIi), to answer retransmitted requests from cache. */
  halfOpenByPeer: Map<string, IkeSa>;
  peerKey(address: string, spiI: Buffer): string;
  halfOpenCount(): number;
  findConn(local: Endpoint, remote: Endpoint): ResolvedConnection | undefined;
  sendRaw(packets: Buffer[], from: Endpoint, to: Endpoint): void;
}

/** Responder side of IKE_SA_INIT: stateless until the request is acceptable (§2.6). */
export function respondInit(env: InitResponderEnv, dg: Buffer, h: IkeHeader, from: Endpoint, to: Endpoint): void {
  if (!fromInitiator(h) || h.messageId !== 0 || !h.spiR.every((b) => b === 0)) {
    env.counters.malformed++;
    return;
  }
  const key = env.peerKey(from.address, h.spiI);
  const existing = env.halfOpenByPeer.get(key);
  if (existing && existing.state !== 'closed') {
    if (existing.initRequest.equals(dg) && existing.lastResponse) {
      env.counters.retransmittedRequests++;
      env.sendRaw(existing.lastResponse.packets, to, from);
    } else {
      // Another request with message ID 0 for an SA that already consumed it: out of the window,
      // dropped like any other (and counted, so that a spoofed stream of them shows up).
      env.counters.badMessageId++;
    }
    return;
  }
  const answer = (payloads: Payload[]): void => {
    const bytes = encodePlain({ spiI: h.spiI, spiR: Buffer.alloc(8), exchangeType: ExchangeType.IKE_SA_INIT, flags: Flag.RESPONSE, messageId: 0 }, payloads);
    env.sendRaw([bytes], to, from);
  };
  const r = decodeMessage(dg, () => undefined);
  if (!r.ok) {
    if (r.error.cause === 'unsupported-critical') {
      env.counters.unsupportedCritical++;
      answer([notify(Notify.UNSUPPORTED_CRITICAL_PAYLOAD, Buffer.from([r.error.payloadType ?? 0]))]);
    } else env.counters.malformed++;
    return;
  }
  if (r.value.kind !== 'message' || r.value.message.protected) {
    env.counters.malformed++;
    return;
  }
  const msg = r.value.message;
  const saP = findPayload(msg.payloads, PayloadType.SA);
  const ke = findPayload(msg.payloads, PayloadType.KE);
  const ni = findPayload(msg.payloads, PayloadType.NONCE);
  if (!saP || !ke || !ni) {
    env.counters.malformed++;
    answer([notify(Notify.INVALID_SYNTAX)]);
    return;
  }
  const now = env.ctx.now();
  const halfOpen = env.halfOpenCount();
  if (halfOpen >= env.ctx.timers.maxHalfOpen) {
    env.counters.halfOpenLimit++;
    return;
  }
  if (halfOpen >= env.ctx.timers.cookieThreshold) {
    const c = findNotify(msg.payloads, Notify.COOKIE);
    if (!c || !env.cookies.check(now, c.data, ni.data, from.address, h.spiI)) {
      env.counters.cookiesSent++;
      answer([notify(Notify.COOKIE, env.cookies.make(now, ni.data, from.address, h.spiI))]);
      return;
    }
  }
  const conn = env.findConn(to, from);
  if (!conn) {
    answer([notify(Notify.NO_PROPOSAL_CHOSEN)]);
    return;
  }
  const sel = selectProposal(conn.ike, saP.proposals, { requireDh: ke.group, spiSize: 0 });
  const proposal = sel && ikeProposal(sel.chosen);
  if (!sel || !proposal || !isSupportedGroup(ke.group)) {
    const group = selectProposal(conn.ike, saP.proposals, { spiSize: 0 })?.chosen.dh;
    answer([group !== undefined ? notify(Notify.INVALID_KE_PAYLOAD, u16(group)) : notify(Notify.NO_PROPOSAL_CHOSEN)]);
    return;
  }
  const dh = generateDh(ke.group, env.ctx.random);
  const gir = dh.computeSecret(ke.data);
  if (!gir) {
    // A public value outside the group (empty, 0, 1, p-1, off the curve): malformed, and counted.
    env.counters.malformed++;
    answer([notify(Notify.INVALID_SYNTAX)]);
    return;
  }
  const spiI = owned(h.spiI);
  const spiR = env.ctx.allocateIkeSpi();
  const nr = env.ctx.random(NONCE_LENGTH);
  const crypto = deriveInitKeys(proposal, gir, ni.data, nr, spiI, spiR);
  const sa = new IkeSa(env.ctx.nextSerial(), conn, false, spiI, { ...to }, { ...from }, now, { state: 'authenticating', crypto });
  sa.spiR = spiR;
  sa.ni = ni.data;
  sa.nr = nr;
  sa.peerFragmentation = !!findNotify(msg.payloads, Notify.IKEV2_FRAGMENTATION_SUPPORTED);
  sa.peerHashAlgs = readHashAlgs(msg);
  checkNat(sa, msg);
  const payloads: Payload[] = [
    { type: PayloadType.SA, proposals: [buildAnswer(sel.chosen, sel.num, Buffer.alloc(0))] },
    { type: PayloadType.KE, group: dh.group, data: dh.publicValue },
    { type: PayloadType.NONCE, data: sa.nr },
    ...natPayloads(env.ctx, sa, sa.spiR),
    ...commonInitNotifies(sa).filter((p) => sa.peerFragmentation || !('notifyType' in p) || p.notifyType !== Notify.IKEV2_FRAGMENTATION_SUPPORTED),
  ];
  const req = env.ctx.auth.certReq?.(conn.name);
  if (req && req.length > 0) payloads.push({ type: PayloadType.CERTREQ, encoding: CertEncoding.X509_SIGNATURE, data: req });
  const bytes = encodePlain({ spiI: sa.spiI, spiR: sa.spiR, exchangeType: ExchangeType.IKE_SA_INIT, flags: Flag.RESPONSE, messageId: 0 }, payloads);
  sa.initRequest = Buffer.from(dg);
  sa.initResponse = bytes;
  sa.lastResponse = { messageId: 0, packets: [bytes] };
  sa.peerNextRequestId = 1;
  sa.expireAt = now + env.ctx.timers.halfOpenTimeoutMs;
  env.ctx.register(sa);
  env.halfOpenByPeer.set(key, sa);
  env.ctx.log(sa, `responding to IKE_SA_INIT from ${from.address}:${from.port} (${proposalName(sel.chosen)})`);
  env.sendRaw([bytes], to, from);
}
