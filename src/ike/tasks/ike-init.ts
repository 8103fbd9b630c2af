import { deriveIkeSaKeys, skeyseed } from '../../crypto/ike-kdf.js';
import { generateDh, isSupportedGroup, type DhKeyPair } from '../../crypto/dh.js';
import { hmacPrf } from '../../crypto/prf.js';
import { SUPPORTED_SIGNATURE_HASHES } from '../auth/constants.js';
import { ExchangeType, Notify, PayloadType } from '../constants.js';
import type { EngineContext } from '../context.js';
import type { IkeMessage } from '../message/message.js';
import { findNotify, findPayload, notify, type Payload } from '../message/payloads.js';
import { natHash } from '../nat.js';
import { acceptAnswer, buildOffer, keyLengths, prfHashOf } from '../proposals.js';
import type { IkeSa } from '../sa/ike-sa.js';
import { ikeProposal, type IkeCrypto, type IkeProposal } from '../sa/phase.js';
import { errorNotify } from './child.js';
import { authTask } from './ike-auth.js';
import { DONE, destroy, next, type Task, type TaskOutcome } from './task.js';

/** IKE_SA_INIT (RFC 7296 §1.2), initiator side: SA, KE, Ni, NAT detection, fragmentation, hash algorithms. */

export const NONCE_LENGTH = 32;
const MAX_INIT_RETRIES = 4;

function hashAlgsData(): Buffer {
  const b = Buffer.alloc(SUPPORTED_SIGNATURE_HASHES.length * 2);
  SUPPORTED_SIGNATURE_HASHES.forEach((h, i) => b.writeUInt16BE(h, i * 2));
  return b;
}

/** NAT_DETECTION_SOURCE_IP / _DESTINATION_IP for a message from `sa.local` to `sa.remote`. */
export function natPayloads(ctx: EngineContext, sa: IkeSa, spiR: Buffer): Payload[] {
  const fake = sa.conn.config.forceEncap ?? true;
  // Faking NAT (a random source hash, as strongSwan's encap=yes) makes both ends float to 4500 and
  // encapsulate ESP in UDP, which our data path always does.
  const src = fake ? ctx.random(20) : natHash(sa.spiI, spiR, sa.local.address, sa.local.port);
  const dst = natHash(sa.spiI, spiR, sa.remote.address, sa.remote.port);
  return [notify(Notify.NAT_DETECTION_SOURCE_IP, src), notify(Notify.NAT_DETECTION_DESTINATION_IP, dst)];
}

/** Reads the peer's NAT detection notifies; decides whether to float to 4500. */
export function checkNat(sa: IkeSa, msg: IkeMessage): void {
  const src = findNotify(msg.payloads, Notify.NAT_DETECTION_SOURCE_IP);
  const dst = findNotify(msg.payloads, Notify.NAT_DETECTION_DESTINATION_IP);
  if (!src || !dst) return;
  const spiR = msg.header.spiR;
  sa.natRemote = !natHash(sa.spiI, spiR, sa.remote.address, sa.remote.port).equals(src.data);
  sa.natLocal = !natHash(sa.spiI, spiR, sa.local.address, sa.local.port).equals(dst.data);
  sa.natT = sa.natRemote || sa.natLocal || (sa.conn.config.forceEncap ?? true);
}

export function readHashAlgs(msg: IkeMessage): number[] {
  const n = findNotify(msg.payloads, Notify.SIGNATURE_HASH_ALGORITHMS);
  if (!n) return [];
  const out: number[] = [];
  for (let i = 0; i + 1 < n.data.length; i += 2) out.push(n.data.readUInt16BE(i));
  return out;
}

/** Computes SKEYSEED and the SA keys once both nonces, both SPIs and g^ir are known (§2.14). */
export function deriveInitKeys(proposal: IkeProposal, gir: Buffer, ni: Buffer, nr: Buffer, spiI: Buffer, spiR: Buffer): IkeCrypto {
  const prf = hmacPrf(prfHashOf(proposal.prf));
  const seed = skeyseed(prf, ni, nr, gir);
  return { proposal, prf, keys: deriveIkeSaKeys(prf, seed, ni, nr, spiI, spiR, keyLengths(proposal)) };
}

export function commonInitNotifies(sa: IkeSa): Payload[] {
  const p: Payload[] = [];
  if (sa.conn.config.fragmentation ?? true) p.push(notify(Notify.IKEV2_FRAGMENTATION_SUPPORTED));
  p.push(notify(Notify.SIGNATURE_HASH_ALGORITHMS, hashAlgsData()));
  return p;
}

export function initTask(ctx: EngineContext, sa: IkeSa, group: number, cookie?: Buffer, retries = 0): Task {
  let dh: DhKeyPair;
  return {
    name: 'IKE_SA_INIT',
    exchange: ExchangeType.IKE_SA_INIT,
    build() {
      if (!isSupportedGroup(group)) return DONE;
      dh = generateDh(group, ctx.random);
      if (sa.ni.length === 0) sa.ni = ctx.random(NONCE_LENGTH);
      const p: Payload[] = [];
      if (cookie) p.push(notify(Notify.COOKIE, cookie));
      p.push({ type: PayloadType.SA, proposals: buildOffer(sa.conn.ike, Buffer.alloc(0), { dhFirst: group }) });
      p.push({ type: PayloadType.KE, group, data: dh.publicValue });
      p.push({ type: PayloadType.NONCE, data: sa.ni });
      p.push(...natPayloads(ctx, sa, Buffer.alloc(8)), ...commonInitNotifies(sa));
      return p;
    },
    onResponse(msg) {
      const cookieN = findNotify(msg.payloads, Notify.COOKIE);
      if (cookieN && retries < MAX_INIT_RETRIES) {
        ctx.log(sa, 'received COOKIE, retrying IKE_SA_INIT with it');
        return restart(sa, initTask(ctx, sa, group, cookieN.data, retries + 1));
      }
      const invalidKe = findNotify(msg.payloads, Notify.INVALID_KE_PAYLOAD);
      if (invalidKe && invalidKe.data.length >= 2 && retries < MAX_INIT_RETRIES) {
        const want = invalidKe.data.readUInt16BE(0);
        if (want !== group && sa.conn.ike.some((p) => p.dh.includes(want)) && isSupportedGroup(want)) {
          ctx.log(sa, `IKE_SA_INIT answered INVALID_KE_PAYLOAD, retrying with group ${want}`);
          return restart(sa, initTask(ctx, sa, want, cookie, retries + 1));
        }
      }
      const err = errorNotify(msg);
      if (err) {
        ctx.log(sa, `IKE_SA_INIT failed: received ${err.name}`);
        return destroy(err.name);
      }
      const saP = findPayload(msg.payloads, PayloadType.SA);
      const ke = findPayload(msg.payloads, PayloadType.KE);
      const nr = findPayload(msg.payloads, PayloadType.NONCE);
      const answered = saP && acceptAnswer(sa.conn.ike, saP.proposals, group);
      const chosen = answered && ikeProposal(answered);
      if (!saP || !ke || !nr || !chosen || ke.group !== group || msg.header.spiR.every((b) => b === 0)) {
        ctx.log(sa, 'IKE_SA_INIT response is malformed or not among our proposals');
        return destroy('INVALID_SYNTAX');
      }
      const gir = dh.computeSecret(ke.data);
      if (!gir) {
        ctx.log(sa, 'IKE_SA_INIT response carries an invalid KE value');
        return destroy('INVALID_KE_PAYLOAD');
      }
      sa.spiR = Buffer.from(msg.header.spiR);
      sa.nr = nr.data;
      sa.peerFragmentation = !!findNotify(msg.payloads, Notify.IKEV2_FRAGMENTATION_SUPPORTED);
      sa.peerHashAlgs = readHashAlgs(msg);
      checkNat(sa, msg);
      const crypto = deriveInitKeys(chosen, gir, sa.ni, sa.nr, sa.spiI, sa.spiR);
      ctx.register(sa); // now findable by spiR too (keylog)
      if (sa.natT && sa.local.port !== 4500) {
        sa.local = { ...sa.local, port: 4500 };
        sa.remote = { ...sa.remote, port: 4500 };
      }
      ctx.transition(sa, { state: 'authenticating', crypto }, 'IKE_SA_INIT answered');
      return next(sa, authTask(ctx, sa, crypto));
    },
    onGiveUp() {
      ctx.log(sa, 'IKE_SA_INIT: no response, giving up');
      return destroy('peer not responding');
    },
  };
}

/** Retries IKE_SA_INIT (cookie, other group): message ID 0 again, the same SPIi and nonce. */
function restart(sa: IkeSa, task: Task): TaskOutcome {
  sa.nextRequestId = 0;
  return next(sa, task);
}
