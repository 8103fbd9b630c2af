import { ExchangeType, Notify, NOTIFY_NAMES, PayloadType, ProtocolId } from '../constants.js';
import type { ResolvedChild } from '../config.js';
import type { EngineContext } from '../context.js';
import type { IkeMessage } from '../message/message.js';
import { findNotify, notify, type Payload } from '../message/payloads.js';
import type { ChildSa } from '../sa/child-sa.js';
import type { IkeSa } from '../sa/ike-sa.js';
import type { IkeCrypto } from '../sa/phase.js';
import { acceptChild, answerChild, makeChildOffer, offerPayloads, pfsGroup, type ChildOffer } from './child.js';
import { NONCE_LENGTH } from './ike-init.js';
import { deleteChildTask } from './informational.js';
import { logChildUp } from './log-lines.js';
import { DONE, destroy, next, type Task } from './task.js';

/** CREATE_CHILD_SA for a new CHILD SA or a CHILD SA rekey (RFC 7296 §1.3.1, §1.3.3, §2.8, §2.8.1). */

function spi4(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/**
 * `old`: the child being rekeyed (make-before-break: the new one comes up first, then the old one
 * is deleted). `group`: a PFS group the responder asked for with INVALID_KE_PAYLOAD.
 */
export function createChildTask(ctx: EngineContext, sa: IkeSa, cfg: ResolvedChild, old?: ChildSa, group?: number, attempt = 0): Task {
  let offer: ChildOffer | undefined;
  let ni: Buffer;
  return {
    name: old ? 'CHILD_REKEY' : 'CHILD_CREATE',
    exchange: ExchangeType.CREATE_CHILD_SA,
    build() {
      const phase = sa.phase;
      if (phase.state !== 'established') {
        // The IKE SA is being rekeyed or was replaced: try again later, on whichever IKE SA then holds the child.
        if (old) old.rekeyAt = ctx.now() + ctx.timers.retryAfterMs;
        else if (sa.replacedBy && sa.replacedBy.state === 'established') return next(sa.replacedBy, createChildTask(ctx, sa.replacedBy, cfg, undefined, group));
        return DONE;
      }
      if (old && (old.state !== 'installed' || !sa.children.includes(old))) return DONE;
      if (old) old.transition('rekeying');
      ni = ctx.random(NONCE_LENGTH);
      offer = makeChildOffer(ctx, sa, phase.crypto, cfg, { pfs: true, ...(group !== undefined ? { group } : {}) });
      const p: Payload[] = [];
      if (old) p.push(notify(Notify.REKEY_SA, Buffer.alloc(0), ProtocolId.ESP, spi4(old.spiIn)));
      p.push(...offerPayloads(offer, ni));
      ctx.log(sa, `sent CREATE_CHILD_SA request for ${old ? 'rekeying IPsec SA ' + hex(old.spiIn) : 'new IPsec SA'}`);
      return p;
    },
    onResponse(msg) {
      if (!offer) return DONE;
      const r = acceptChild(ctx, sa, offer, msg, ni, responderNonce(msg));
      if (!('child' in r)) {
        if (old && old.state === 'rekeying') old.transition('installed');
        if (r.notify === Notify.INVALID_KE_PAYLOAD && r.data && r.data.length >= 2 && attempt < 2) {
          const want = r.data.readUInt16BE(0);
          ctx.log(sa, `CREATE_CHILD_SA answered INVALID_KE_PAYLOAD, retrying with group ${want}`);
          return next(sa, createChildTask(ctx, sa, cfg, old, want, attempt + 1));
        }
        if (r.notify === Notify.TEMPORARY_FAILURE && old) {
          ctx.log(sa, 'CREATE_CHILD_SA answered TEMPORARY_FAILURE, retrying later');
          old.rekeyAt = ctx.now() + ctx.timers.retryAfterMs;
          return DONE;
        }
        if (r.notify === Notify.CHILD_SA_NOT_FOUND && old) {
          ctx.log(sa, 'peer no longer has the IPsec SA; creating a new one');
          ctx.childDown(sa, old, 'CHILD_SA_NOT_FOUND');
          return next(sa, createChildTask(ctx, sa, cfg));
        }
        ctx.log(sa, `CREATE_CHILD_SA failed: ${r.error}`);
        return r.cleanup ? next(sa, r.cleanup) : DONE;
      }
      const child = r.child;
      if (sa.earlyDeletes.delete(child.spiOut)) {
        // The peer deleted this child before its creation's answer reached us (§2.25): never install it.
        ctx.log(sa, `IPsec SA ${hex(child.spiIn)} was deleted by the peer before we installed it`);
        if (old && old.state === 'rekeying') old.transition('installed');
        return DONE;
      }
      // The exchange ran on `sa` (its SK_d made the keys) but an IKE rekey may have moved the children on.
      sa.current.children.push(child);
      logChildUp(ctx, sa, child);
      ctx.childUp(sa, child, old);
      if (!old) return DONE;
      // §2.8.1: if the peer rekeyed the same child meanwhile, the SA made with the lowest nonce is redundant.
      if (old.peerRekey) {
        const ours = Buffer.compare(ni, responderNonce(msg)) < 0 ? ni : responderNonce(msg);
        const theirs = Buffer.compare(old.peerRekey.nonces[0], old.peerRekey.nonces[1]) < 0 ? old.peerRekey.nonces[0] : old.peerRekey.nonces[1];
        if (Buffer.compare(ours, theirs) < 0) {
          ctx.log(sa, `rekey collision: our new IPsec SA ${hex(child.spiIn)} is redundant, deleting it`);
          old.transition('rekeyed');
          child.transition('deleting');
          return next(sa.current, deleteChildTask(ctx, sa.current, child));
        }
        ctx.log(sa, `rekey collision: keeping our new IPsec SA ${hex(child.spiIn)}`);
      }
      old.transition('deleting');
      return next(sa.current, deleteChildTask(ctx, sa.current, old));
    },
    rehome: (successor) => createChildTask(ctx, successor, cfg, old, group, attempt),
    onGiveUp() {
      ctx.log(sa, 'CREATE_CHILD_SA: no response, giving up');
      return destroy('peer not responding');
    },
  };
}

function responderNonce(msg: IkeMessage): Buffer {
  const n = msg.payloads.find((p) => p.type === PayloadType.NONCE) as { data: Buffer } | undefined;
  return n?.data ?? Buffer.alloc(0);
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

/** Responder side of a child CREATE_CHILD_SA (new or rekey). */
export function respondCreateChild(ctx: EngineContext, sa: IkeSa, crypto: IkeCrypto, msg: IkeMessage): Payload[] {
  const niP = msg.payloads.find((p) => p.type === PayloadType.NONCE) as { data: Buffer } | undefined;
  if (!niP) return [notify(Notify.INVALID_SYNTAX)];
  const rekey = findNotify(msg.payloads, Notify.REKEY_SA);
  let old: ChildSa | undefined;
  if (rekey) {
    const spi = rekey.spi.length === 4 ? rekey.spi.readUInt32BE(0) : -1;
    old = sa.children.find((c) => c.spiOut === spi);
    if (!old && sa.outstanding?.task.exchange === ExchangeType.CREATE_CHILD_SA) {
      // The SA may be the one our own outstanding CREATE_CHILD_SA creates (its answer has not
      // reached us yet): not "not found" but "not yet" (§2.25).
      ctx.log(sa, `peer asked to rekey IPsec SA ${hex(spi)} we do not have yet; answering TEMPORARY_FAILURE`);
      return [notify(Notify.TEMPORARY_FAILURE)];
    }
    if (!old || old.state === 'deleting' || old.state === 'rekeyed') {
      ctx.log(sa, `peer asked to rekey unknown IPsec SA ${hex(spi)}`);
      return [notify(Notify.CHILD_SA_NOT_FOUND, Buffer.alloc(0), ProtocolId.ESP, rekey.spi)];
    }
  }
  const nr = ctx.random(NONCE_LENGTH);
  const ans = answerChild(ctx, sa, crypto, msg, niP.data, nr, { inAuth: false, ...(old ? { only: old.cfg } : {}) });
  if (!ans.child) {
    ctx.log(sa, `refused CREATE_CHILD_SA request: ${NOTIFY_NAMES[ans.refused ?? 0] ?? ans.refused}`);
    return ans.payloads;
  }
  sa.children.push(ans.child);
  logChildUp(ctx, sa, ans.child);
  ctx.childUp(sa, ans.child, old);
  if (old) {
    if (old.state === 'rekeying') {
      // Collision: our own rekey of this child is in flight; decide when its answer arrives.
      old.peerRekey = { nonces: [niP.data, nr], replacement: ans.child };
    } else {
      old.transition('rekeyed');
      // The rekey initiator deletes the old child; if it never does, we do after a while.
      old.rekeyAt = ctx.now() + ctx.timers.rekeyedLingerMs;
    }
  }
  return ans.payloads;
}

export { pfsGroup };
