import { deriveIkeSaKeys, rekeySkeyseed } from '../../crypto/ike-kdf.js';
import { generateDh, isSupportedGroup, type DhKeyPair } from '../../crypto/dh.js';
import { hmacPrf } from '../../crypto/prf.js';
import { ExchangeType, Notify, PayloadType, ProtocolId } from '../constants.js';
import type { EngineContext } from '../context.js';
import type { IkeMessage } from '../message/message.js';
import { findPayload, notify, type Payload } from '../message/payloads.js';
import { acceptAnswer, buildAnswer, buildOffer, keyLengths, prfHashOf, selectProposal } from '../proposals.js';
import { IkeSa } from '../sa/ike-sa.js';
import { ikeProposal, type IkeCrypto, type IkeProposal } from '../sa/phase.js';
import { errorNotify, u16 } from './child.js';
import { NONCE_LENGTH } from './ike-init.js';
import { deleteIkeTask } from './informational.js';
import { DONE, destroy, next, type Queued, type Task, type TaskOutcome } from './task.js';

/** IKE SA rekey with CREATE_CHILD_SA (RFC 7296 §1.3.2, §2.18, collisions §2.8.2). */

/** A rekey's new IKE SA with its keys. */
export interface RekeyedSa {
  sa: IkeSa;
  crypto: IkeCrypto;
}

/**
 * The new IKE SA of a rekey, keyed from the old one's SK_d (§2.18). It starts in authenticating:
 * it is taken into use (ikeUp, via adopt) once any collision is decided.
 */
function makeNewSa(ctx: EngineContext, old: IkeSa, oldCrypto: IkeCrypto, weInitiate: boolean, spiI: Buffer, spiR: Buffer, proposal: IkeProposal, ni: Buffer, nr: Buffer, gir: Buffer): RekeyedSa {
  const prf = hmacPrf(prfHashOf(proposal.prf));
  const seed = rekeySkeyseed(oldCrypto.prf, oldCrypto.keys.skD, gir, ni, nr);
  const crypto: IkeCrypto = { proposal, prf, keys: deriveIkeSaKeys(prf, seed, ni, nr, spiI, spiR, keyLengths(proposal)) };
  const sa = new IkeSa(ctx.nextSerial(), old.conn, weInitiate, spiI, old.local, old.remote, ctx.now(), { state: 'authenticating', crypto });
  sa.spiR = spiR;
  sa.rekeyOf = old.serial;
  sa.ni = ni;
  sa.nr = nr;
  sa.natT = old.natT;
  sa.natLocal = old.natLocal;
  sa.natRemote = old.natRemote;
  sa.peerFragmentation = old.peerFragmentation;
  sa.peerHashAlgs = old.peerHashAlgs;
  if (old.localId) sa.localId = old.localId;
  if (old.remoteId) sa.remoteId = old.remoteId;
  return { sa, crypto };
}

/**
 * Moves the children over, retires the old SA and takes the new one into use. Returns the child
 * work that was still queued on the old SA, moved to the new one (to queue there).
 */
function adopt(ctx: EngineContext, old: IkeSa, { sa, crypto }: RekeyedSa): Queued[] {
  sa.children.push(...old.children.splice(0));
  const moved = old.queue.splice(0).map((t) => t.rehome?.(sa)).filter((t): t is Task => t !== undefined);
  old.replacedBy = sa;
  ctx.transition(old, 'rekeyed', `replaced by #${sa.serial}`);
  old.expireAt = ctx.now() + ctx.timers.rekeyedLingerMs;
  ctx.register(sa);
  ctx.ikeUp(sa, crypto, `rekeyed IKE SA #${old.serial}`);
  return moved.map((task) => ({ sa, task }));
}

export function ikeRekeyTask(ctx: EngineContext, old: IkeSa, group?: number, attempt = 0): Task {
  let dh: DhKeyPair;
  let ni: Buffer;
  let spiI: Buffer;
  let oldCrypto: IkeCrypto;
  return {
    name: 'IKE_REKEY',
    exchange: ExchangeType.CREATE_CHILD_SA,
    build() {
      const phase = old.phase;
      if (phase.state !== 'established') return DONE;
      oldCrypto = phase.crypto;
      const g = group ?? oldCrypto.proposal.dh;
      if (!isSupportedGroup(g)) return DONE;
      ctx.transition(old, 'rekeying', 'rekey sent'); // no new children on it from now; reverted on failure
      dh = generateDh(g, ctx.random);
      ni = ctx.random(NONCE_LENGTH);
      spiI = ctx.allocateIkeSpi();
      ctx.log(old, 'sent CREATE_CHILD_SA request to rekey IKE SA');
      return [
        { type: PayloadType.SA, proposals: buildOffer(old.conn.ike, spiI, { dhFirst: g }) },
        { type: PayloadType.NONCE, data: ni },
        { type: PayloadType.KE, group: g, data: dh.publicValue },
      ];
    },
    onResponse(msg): TaskOutcome {
      ctx.transition(old, 'established', 'rekey answered');
      const err = errorNotify(msg);
      if (err) {
        if (err.type === Notify.INVALID_KE_PAYLOAD && err.data.length >= 2 && attempt < 2) {
          return next(old, ikeRekeyTask(ctx, old, err.data.readUInt16BE(0), attempt + 1));
        }
        ctx.log(old, `IKE SA rekey failed: ${err.name}`);
        old.rekeyAt = ctx.now() + ctx.timers.retryAfterMs * 5;
        return DONE;
      }
      const saP = findPayload(msg.payloads, PayloadType.SA);
      const nr = findPayload(msg.payloads, PayloadType.NONCE);
      const ke = findPayload(msg.payloads, PayloadType.KE);
      const answered = saP && acceptAnswer(old.conn.ike, saP.proposals, dh.group);
      const chosen = answered && ikeProposal(answered);
      const spiR = saP?.proposals[0]?.spi;
      const gir = ke && ke.group === dh.group ? dh.computeSecret(ke.data) : null;
      if (!chosen || !nr || !gir || !spiR || spiR.length !== 8) {
        ctx.log(old, 'IKE SA rekey failed: malformed response');
        return DONE;
      }
      const made = makeNewSa(ctx, old, oldCrypto, true, spiI, spiR, chosen, ni, nr.data, gir);
      const sa = made.sa;
      const collision = old.peerRekey;
      if (collision) {
        const ourMin = Buffer.compare(ni, nr.data) < 0 ? ni : nr.data;
        const theirMin = Buffer.compare(collision.nonces[0], collision.nonces[1]) < 0 ? collision.nonces[0] : collision.nonces[1];
        if (Buffer.compare(ourMin, theirMin) < 0) {
          // Ours is redundant: the peer's new SA wins; the peer deletes the old one.
          ctx.log(old, 'IKE rekey collision: our new IKE SA is redundant, deleting it');
          const moved = adopt(ctx, old, collision.replacement);
          ctx.register(sa);
          return { kind: 'next', queue: [...moved, { sa, task: deleteIkeTask(ctx, sa, 'redundant after rekey collision') }] };
        }
        ctx.log(old, 'IKE rekey collision: keeping our new IKE SA');
        // The peer deletes its redundant SA; if it never does, it expires.
        ctx.transition(collision.replacement.sa, 'rekeyed', 'lost the IKE rekey collision');
        collision.replacement.sa.expireAt = ctx.now() + ctx.timers.rekeyedLingerMs;
      }
      ctx.log(sa, `rekeyed IKE SA #${old.serial}`);
      const moved = adopt(ctx, old, made);
      return { kind: 'next', queue: [...moved, { sa: old, task: deleteIkeTask(ctx, old, 'rekeyed') }] };
    },
    onGiveUp: () => destroy('peer not responding'),
  };
}

/** Responder side of an IKE rekey: the answer, and the child work that moved to the new SA. */
export function respondIkeRekey(ctx: EngineContext, old: IkeSa, msg: IkeMessage): { payloads: Payload[]; queue: Queued[] } {
  const only = (payloads: Payload[]): { payloads: Payload[]; queue: Queued[] } => ({ payloads, queue: [] });
  const saP = findPayload(msg.payloads, PayloadType.SA);
  const ni = findPayload(msg.payloads, PayloadType.NONCE);
  const ke = findPayload(msg.payloads, PayloadType.KE);
  if (!saP || !ni || !ke) return only([notify(Notify.INVALID_SYNTAX)]);
  const phase = old.phase;
  if (phase.state !== 'established' && phase.state !== 'rekeying') return only([notify(Notify.TEMPORARY_FAILURE)]);
  const sel = selectProposal(old.conn.ike, saP.proposals, { requireDh: ke.group, spiSize: 8 });
  const proposal = sel && ikeProposal(sel.chosen);
  if (!sel || !proposal) {
    const group = selectProposal(old.conn.ike, saP.proposals, { spiSize: 8 })?.chosen.dh;
    return only([group !== undefined ? notify(Notify.INVALID_KE_PAYLOAD, u16(group)) : notify(Notify.NO_PROPOSAL_CHOSEN)]);
  }
  if (!isSupportedGroup(ke.group)) return only([notify(Notify.INVALID_KE_PAYLOAD, u16(proposal.dh))]);
  const dh = generateDh(ke.group, ctx.random);
  const gir = dh.computeSecret(ke.data);
  if (!gir) return only([notify(Notify.INVALID_SYNTAX)]);
  const nr = ctx.random(NONCE_LENGTH);
  const spiR = ctx.allocateIkeSpi();
  const made = makeNewSa(ctx, old, phase.crypto, false, sel.spi, spiR, proposal, ni.data, nr, gir);
  let queue: Queued[] = [];
  if (phase.state === 'rekeying') {
    // Our own rekey is in flight: decide when its answer comes (§2.8.2).
    old.peerRekey = { nonces: [ni.data, nr], replacement: made };
    ctx.register(made.sa);
  } else {
    ctx.log(made.sa, `rekeyed IKE SA #${old.serial} (peer initiated)`);
    queue = adopt(ctx, old, made);
  }
  const payloads: Payload[] = [
    { type: PayloadType.SA, proposals: [buildAnswer(sel.chosen, sel.num, spiR)] },
    { type: PayloadType.NONCE, data: nr },
    { type: PayloadType.KE, group: dh.group, data: dh.publicValue },
  ];
  return { payloads, queue };
}

export const IKE_PROTOCOL = ProtocolId.IKE;
