import { ExchangeType, Notify, PayloadType, CertEncoding } from '../constants.js';
import type { EngineContext } from '../context.js';
import type { IkeMessage } from '../message/message.js';
import { findNotify, findPayload, findPayloads, notify, type Payload } from '../message/payloads.js';
import type { IkeSa } from '../sa/ike-sa.js';
import type { IkeCrypto } from '../sa/phase.js';
import { acceptChild, answerChild, childRequestFits, makeChildOffer, offerPayloads, type ChildOffer } from './child.js';
import { createChildTask } from './create-child.js';
import { logChildUp } from './log-lines.js';
import { destroy, next, type Task } from './task.js';

/** IKE_AUTH (RFC 7296 §1.2, §2.15): identities, certificates, AUTH and the first CHILD SA. */

/**
 * RestOfIDPayload (§2.15): the ID payload's body as it was sent, RESERVED bytes included. We send
 * zeros; a peer that sent others (libreswan's send-nonzero-reserved-id) signed those, so the
 * received bytes are what its AUTH covers.
 */
function idBody(p: { idType: number; data: Buffer; reserved?: Buffer }): Buffer {
  return Buffer.concat([Buffer.from([p.idType]), p.reserved ?? Buffer.alloc(3), p.data]);
}

/** The octets each side signs (§2.15). */
export function signedOctets(sa: IkeSa, crypto: IkeCrypto, ofInitiator: boolean, id: { idType: number; data: Buffer; reserved?: Buffer }): Buffer {
  const { prf, keys } = crypto;
  if (ofInitiator) return Buffer.concat([sa.initRequest, sa.nr, prf(keys.skPi, idBody(id))]);
  return Buffer.concat([sa.initResponse, sa.ni, prf(keys.skPr, idBody(id))]);
}

function certPayloads(certs: Buffer[]): Payload[] {
  return certs.map((c) => ({ type: PayloadType.CERT, encoding: CertEncoding.X509_SIGNATURE, data: c }));
}

function peerCerts(msg: IkeMessage): Buffer[] {
  return findPayloads(msg.payloads, PayloadType.CERT).filter((c) => c.encoding === CertEncoding.X509_SIGNATURE).map((c) => c.data);
}

function authSummary(crypto: IkeCrypto): string {
  const c = crypto.proposal;
  const enc = `AES_GCM_16_${c.encr.keyLength}`;
  const prf = ({ 5: 'HMAC_SHA2_256', 6: 'HMAC_SHA2_384', 7: 'HMAC_SHA2_512' } as Record<number, string>)[c.prf] ?? String(c.prf);
  const group = ({ 14: 'MODP2048', 19: 'DH19', 31: 'DH31' } as Record<number, string>)[c.dh] ?? String(c.dh);
  return `{cipher=${enc} integ=n/a prf=${prf} group=${group}}`;
}

export function authTask(ctx: EngineContext, sa: IkeSa, crypto: IkeCrypto): Task {
  let offer: ChildOffer | undefined;
  const firstChild = sa.conn.children.find((c) => (c.config.startAction ?? 'start') !== 'none') ?? sa.conn.children[0];
  return {
    name: 'IKE_AUTH',
    exchange: ExchangeType.IKE_AUTH,
    build() {
      const localId = ctx.auth.localId(sa.name);
      sa.localId = localId;
      const idi = { type: PayloadType.IDi, idType: localId.type, data: localId.data } as const;
      const signed = signedOctets(sa, crypto, true, idi);
      const auth = ctx.auth.sign(sa.name, signed, sa.peerHashAlgs, crypto.prf, crypto.keys.skPi);
      const p: Payload[] = [idi, ...certPayloads(auth.certs)];
      const req = ctx.auth.certReq?.(sa.name);
      if (req && req.length > 0) p.push({ type: PayloadType.CERTREQ, encoding: CertEncoding.X509_SIGNATURE, data: req });
      // §2.4: only when we hold no other IKE SA with this peer (a second connection to it must not wipe the first).
      if (!ctx.hasOtherIkeSa(sa)) p.push(notify(Notify.INITIAL_CONTACT));
      p.push({ type: PayloadType.AUTH, method: auth.method, data: auth.data });
      if (firstChild) {
        offer = makeChildOffer(ctx, sa, crypto, firstChild, { pfs: false });
        p.push(...offerPayloads(offer));
      }
      return p;
    },
    onResponse(msg) {
      const idr = findPayload(msg.payloads, PayloadType.IDr);
      const auth = findPayload(msg.payloads, PayloadType.AUTH);
      if (!idr || !auth) {
        const failed = findNotify(msg.payloads, Notify.AUTHENTICATION_FAILED);
        const reason = failed ? 'AUTHENTICATION_FAILED' : 'IKE_AUTH response without IDr/AUTH';
        ctx.log(sa, `IKE_AUTH failed: ${failed ? 'received AUTHENTICATION_FAILED' : reason}`);
        return destroy(reason);
      }
      const peerId = { type: idr.idType, data: idr.data };
      const v = ctx.auth.verify(sa.name, auth.method, auth.data, signedOctets(sa, crypto, false, idr), peerCerts(msg), peerId, crypto.prf, crypto.keys.skPr);
      if (!v.ok) {
        ctx.log(sa, `authentication of peer ${ctx.describeId(peerId)} failed: ${v.reason}`);
        // Tell the peer before we forget the SA (§2.21.2).
        return destroy('AUTHENTICATION_FAILED', [notify(Notify.AUTHENTICATION_FAILED)]);
      }
      sa.remoteId = peerId;
      ctx.log(sa, `established IKE SA; authenticated peer '${ctx.describeId(peerId)}' ${authSummary(crypto)}`);
      ctx.ikeUp(sa, crypto, 'IKE_AUTH answered');
      const tasks: Task[] = [];
      if (offer) {
        const r = acceptChild(ctx, sa, offer, msg, sa.ni, sa.nr);
        if ('child' in r) {
          sa.children.push(r.child);
          logChildUp(ctx, sa, r.child);
          ctx.childUp(sa, r.child);
        } else {
          ctx.log(sa, `IPsec SA "${offer.cfg.name}" not established: ${r.error}`);
          if (r.cleanup) tasks.push(r.cleanup);
        }
      }
      // The connection's other children; 'trap' ones start eagerly too: the data path has no
      // acquire upcall to start them on demand.
      const others = sa.conn.children.filter((c) => c.name !== offer?.cfg.name && (c.config.startAction ?? 'start') !== 'none');
      return next(sa, ...tasks, ...others.map((c) => createChildTask(ctx, sa, c)));
    },
    onGiveUp() {
      ctx.log(sa, 'IKE_AUTH: no response, giving up');
      return destroy('peer not responding');
    },
  };
}

/** Responder side of IKE_AUTH. Returns the response payloads; destroys the SA on failure. */
export function respondAuth(ctx: EngineContext, sa: IkeSa, crypto: IkeCrypto, msg: IkeMessage): { payloads: Payload[]; ok: boolean } {
  const idi = findPayload(msg.payloads, PayloadType.IDi);
  const auth = findPayload(msg.payloads, PayloadType.AUTH);
  if (!idi || !auth) return { payloads: [notify(Notify.INVALID_SYNTAX)], ok: false };
  const peerId = { type: idi.idType, data: idi.data };
  // Several connections may lead to this peer (e.g. the seed's -in-1/-out-1): take the one whose
  // children fit the request; IKE_SA_INIT could only pick by address.
  if (findPayload(msg.payloads, PayloadType.SA) && !childRequestFits(sa, sa.conn.children, msg, true)) {
    const siblings = ctx.siblings(sa);
    const better = siblings.find((c) => childRequestFits(sa, c.children, msg, true))
      ?? (childRequestFits(sa, sa.conn.children, msg, false) ? undefined : siblings.find((c) => childRequestFits(sa, c.children, msg, false)));
    if (better) {
      ctx.log(sa, `switching to connection "${better.name}" whose traffic selectors fit the request`);
      sa.conn = better;
    }
  }
  const v = ctx.auth.verify(sa.name, auth.method, auth.data, signedOctets(sa, crypto, true, idi), peerCerts(msg), peerId, crypto.prf, crypto.keys.skPi);
  if (!v.ok) {
    ctx.log(sa, `authentication of peer ${ctx.describeId(peerId)} failed: ${v.reason}`);
    return { payloads: [notify(Notify.AUTHENTICATION_FAILED)], ok: false };
  }
  sa.remoteId = peerId;
  const localId = ctx.auth.localId(sa.name);
  sa.localId = localId;
  const idr = { type: PayloadType.IDr, idType: localId.type, data: localId.data } as const;
  const mine = ctx.auth.sign(sa.name, signedOctets(sa, crypto, false, idr), sa.peerHashAlgs, crypto.prf, crypto.keys.skPr);
  const payloads: Payload[] = [idr, ...certPayloads(mine.certs), { type: PayloadType.AUTH, method: mine.method, data: mine.data }];
  ctx.log(sa, `established IKE SA; authenticated peer '${ctx.describeId(peerId)}' ${authSummary(crypto)}`);
  if (findNotify(msg.payloads, Notify.INITIAL_CONTACT)) ctx.initialContact(sa);
  ctx.ikeUp(sa, crypto, 'IKE_AUTH request authenticated');
  if (findPayload(msg.payloads, PayloadType.SA)) {
    const ans = answerChild(ctx, sa, crypto, msg, sa.ni, sa.nr, { inAuth: true });
    payloads.push(...ans.payloads);
    if (ans.child) {
      sa.children.push(ans.child);
      logChildUp(ctx, sa, ans.child);
      ctx.childUp(sa, ans.child);
    } else {
      ctx.log(sa, `IPsec SA refused: ${ans.refused !== undefined ? notifyName(ans.refused) : 'error'}`);
    }
  }
  return { payloads, ok: true };
}

function notifyName(t: number): string {
  return ({ 14: 'NO_PROPOSAL_CHOSEN', 38: 'TS_UNACCEPTABLE', 17: 'INVALID_KE_PAYLOAD', 7: 'INVALID_SYNTAX' } as Record<number, string>)[t] ?? `notify ${t}`;
}
