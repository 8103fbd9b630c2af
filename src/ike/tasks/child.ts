import type { TrafficSelector } from '../../wire/traffic-selector.js';
import { deriveChildKeys } from '../../crypto/ike-kdf.js';
import { generateDh, isSupportedGroup, type DhKeyPair } from '../../crypto/dh.js';
import type { ResolvedChild } from '../config.js';
import { ExchangeType, Notify, NOTIFY_ERROR_MAX, NOTIFY_NAMES, PayloadType, ProtocolId } from '../constants.js';
import type { EngineContext } from '../context.js';
import type { IkeMessage } from '../message/message.js';
import { findNotify, findPayload, notifies, notify, type Payload } from '../message/payloads.js';
import { acceptAnswer, buildAnswer, buildOffer, keyLengths, selectProposal, type ChosenProposal } from '../proposals.js';
import { ChildSa } from '../sa/child-sa.js';
import type { IkeSa } from '../sa/ike-sa.js';
import type { IkeCrypto } from '../sa/phase.js';
import { DONE, type Task } from './task.js';
import { allWithin, fromEntries, narrow, resolveTs, toEntry } from '../../wire/traffic-selector.js';

/** CHILD SA negotiation shared by IKE_AUTH and CREATE_CHILD_SA (RFC 7296 §1.3, §2.9, §2.17). */

export interface ChildOffer {
  cfg: ResolvedChild;
  spiIn: number;
  tsi: TrafficSelector[];
  tsr: TrafficSelector[];
  dh?: DhKeyPair;
  withDh: boolean;
  /** The IKE SA keys of the exchange: the child's KEYMAT derives from its SK_d (§2.17). */
  crypto: IkeCrypto;
}

function spiBytes(spi: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(spi >>> 0);
  return b;
}

/** PFS group of a child config: the first group of its first proposal that names one. */
export function pfsGroup(cfg: ResolvedChild): number | undefined {
  return cfg.esp.find((p) => p.dh.length > 0)?.dh[0];
}

export function makeChildOffer(ctx: EngineContext, sa: IkeSa, crypto: IkeCrypto, cfg: ResolvedChild, opts: { pfs: boolean; group?: number }): ChildOffer {
  const group = opts.group ?? pfsGroup(cfg);
  const withDh = opts.pfs && group !== undefined;
  const offer: ChildOffer = {
    cfg,
    spiIn: ctx.allocateChildSpi(),
    tsi: resolveTs(cfg.localTs, sa.local.address),
    tsr: resolveTs(cfg.remoteTs, sa.remote.address),
    withDh,
    crypto,
  };
  if (withDh && isSupportedGroup(group!)) offer.dh = generateDh(group!, ctx.random);
  return offer;
}

/** SA, [KE], TSi, TSr and mode notify of an offer (the caller adds Nonce / REKEY_SA). */
export function offerPayloads(offer: ChildOffer, nonce?: Buffer): Payload[] {
  const p: Payload[] = [];
  if (offer.cfg.config.mode === 'transport') p.push(notify(Notify.USE_TRANSPORT_MODE));
  p.push({ type: PayloadType.SA, proposals: buildOffer(offer.cfg.esp, spiBytes(offer.spiIn), { withoutDh: !offer.withDh, ...(offer.dh ? { dhFirst: offer.dh.group } : {}) }) });
  if (nonce) p.push({ type: PayloadType.NONCE, data: nonce });
  if (offer.dh) p.push({ type: PayloadType.KE, group: offer.dh.group, data: offer.dh.publicValue });
  p.push({ type: PayloadType.TSi, selectors: offer.tsi.map(toEntry) });
  p.push({ type: PayloadType.TSr, selectors: offer.tsr.map(toEntry) });
  return p;
}

/** The first error notify in a message, by name. */
export function errorNotify(msg: IkeMessage): { type: number; name: string; data: Buffer } | undefined {
  const n = notifies(msg.payloads).find((x) => x.notifyType <= NOTIFY_ERROR_MAX);
  return n ? { type: n.notifyType, name: NOTIFY_NAMES[n.notifyType] ?? `notify ${n.notifyType}`, data: n.data } : undefined;
}

/**
 * Initiator: checks the answer to an offer and builds the child. `ni`/`nr` are the nonces the keys
 * derive from (IKE_SA_INIT's in IKE_AUTH, the exchange's own in CREATE_CHILD_SA).
 */
export type ChildAccepted = { child: ChildSa } | { error: string; notify?: number; data?: Buffer; cleanup?: Task };

/** Checks the answer to an offer; `cleanup`, when set, is an exchange to queue (see below). */
export function acceptChild(ctx: EngineContext, sa: IkeSa, offer: ChildOffer, msg: IkeMessage, ni: Buffer, nr: Buffer): ChildAccepted {
  const r = acceptChildAnswer(ctx, sa, offer, msg, ni, nr);
  if (!('child' in r) && r.notify === undefined && findPayload(msg.payloads, PayloadType.SA)) {
    // The peer installed a child we cannot accept (e.g. tunnel mode for our transport request): delete it
    // so that no SA is left behind. The peer knows it by our (never used) inbound SPI.
    const cleanup: Task = {
      name: 'CHILD_DELETE',
      exchange: ExchangeType.INFORMATIONAL,
      build: () => [{ type: PayloadType.DELETE, protocolId: ProtocolId.ESP, spiSize: 4, spis: [spiBytes(offer.spiIn)] }],
      onResponse: () => DONE,
    };
    return { ...r, cleanup };
  }
  return r;
}

function acceptChildAnswer(ctx: EngineContext, sa: IkeSa, offer: ChildOffer, msg: IkeMessage, ni: Buffer, nr: Buffer): { child: ChildSa } | { error: string; notify?: number; data?: Buffer } {
  const err = errorNotify(msg);
  if (err) return { error: err.name, notify: err.type, data: err.data };
  const saP = findPayload(msg.payloads, PayloadType.SA);
  const tsi = findPayload(msg.payloads, PayloadType.TSi);
  const tsr = findPayload(msg.payloads, PayloadType.TSr);
  if (!saP || !tsi || !tsr) return { error: 'answer lacks SA, TSi or TSr' };
  const chosen = acceptAnswer(offer.cfg.esp, saP.proposals, offer.dh?.group);
  const prop = saP.proposals[0];
  if (!chosen || !prop || prop.spi.length !== 4 || prop.protocolId !== ProtocolId.ESP) return { error: 'answer SA is not one of our proposals' };
  if (offer.dh && chosen.dh !== offer.dh.group) return { error: 'answer SA dropped our PFS group' };
  const ansTsi = fromEntries(tsi.selectors);
  const ansTsr = fromEntries(tsr.selectors);
  if (!allWithin(ansTsi, offer.tsi) || !allWithin(ansTsr, offer.tsr)) return { error: 'answer traffic selectors are not within ours' };
  const transport = findNotify(msg.payloads, Notify.USE_TRANSPORT_MODE) !== undefined;
  const mode = offer.cfg.config.mode === 'transport' && transport ? 'transport' : 'tunnel';
  if (offer.cfg.config.mode === 'transport' && !transport) return { error: 'peer refused transport mode' };
  let gir: Buffer | undefined;
  if (offer.dh) {
    const ke = findPayload(msg.payloads, PayloadType.KE);
    if (!ke || ke.group !== offer.dh.group) return { error: 'answer lacks the PFS KE payload' };
    const s = offer.dh.computeSecret(ke.data);
    if (!s) return { error: 'invalid PFS key exchange value' };
    gir = s;
  }
  const keys = deriveChildKeys(offer.crypto.prf, offer.crypto.keys.skD, ni, nr, keyLengths(chosen), gir);
  const child = new ChildSa(ctx.nextSerial(), offer.cfg, offer.spiIn, prop.spi.readUInt32BE(0), keys.encrR2I, keys.encrI2R, chosen, ansTsi, ansTsr, mode, ctx.now());
  return { child };
}

export interface ChildAnswer {
  payloads: Payload[];
  child?: ChildSa;
  /** Error notify type when the child was refused. */
  refused?: number;
}

/**
 * Responder: negotiates a child from a request's SA/TSi/TSr (and KE for PFS). `nr` is our nonce
 * (already in the response for CREATE_CHILD_SA); `only` restricts to one config (rekey).
 */
export function answerChild(ctx: EngineContext, sa: IkeSa, crypto: IkeCrypto, msg: IkeMessage, ni: Buffer, nr: Buffer, opts: { inAuth: boolean; only?: ResolvedChild }): ChildAnswer {
  const refuse = (type: number, data: Buffer = Buffer.alloc(0)): ChildAnswer => ({ payloads: [notify(type, data)], refused: type });
  const saP = findPayload(msg.payloads, PayloadType.SA);
  const tsiP = findPayload(msg.payloads, PayloadType.TSi);
  const tsrP = findPayload(msg.payloads, PayloadType.TSr);
  if (!saP || !tsiP || !tsrP) return refuse(Notify.INVALID_SYNTAX);
  const theirTsi = fromEntries(tsiP.selectors);
  const theirTsr = fromEntries(tsrP.selectors);
  const wantsTransport = findNotify(msg.payloads, Notify.USE_TRANSPORT_MODE) !== undefined;
  const ke = findPayload(msg.payloads, PayloadType.KE);
  // Configs that take the request's selectors whole come first, then those that must narrow them
  // (strongSwan also picks the best-matching child): with an overlay's `-in-1` (local udp/6081 ↔
  // remote udp) and `-out-1` (the mirror), each request then lands on the mirrored config instead
  // of being narrowed to 6081 ↔ 6081 by whichever config comes first.
  const all = opts.only ? [opts.only] : sa.conn.children;
  const whole = (cfg: ResolvedChild): boolean =>
    allWithin(theirTsi, resolveTs(cfg.remoteTs, sa.remote.address)) && allWithin(theirTsr, resolveTs(cfg.localTs, sa.local.address));
  const candidates = [...all.filter(whole), ...all.filter((c) => !whole(c))];
  let sawProposal = false;
  let invalidKe: number | undefined;
  for (const cfg of candidates) {
    const sel = selectProposal(cfg.esp, saP.proposals, { spiSize: 4, ...(opts.inAuth ? { ignoreDh: true } : {}) });
    if (!sel) continue;
    let chosen: ChosenProposal = sel.chosen;
    if (opts.inAuth) {
      // IKE_AUTH carries no KE: a PFS group in the proposal applies to later rekeys only (§1.2).
      chosen = { ...chosen };
      delete chosen.dh;
    } else if (chosen.dh !== undefined && ke?.group !== chosen.dh) {
      // Prefer a selection that matches the peer's KE group.
      const alt = ke ? selectProposal(cfg.esp, saP.proposals, { spiSize: 4, requireDh: ke.group }) : undefined;
      if (alt) chosen = alt.chosen;
      else {
        invalidKe = chosen.dh;
        continue;
      }
    } else if (chosen.dh === undefined && ke) {
      // They want PFS, we are configured without: accept only if their proposal allows no DH.
    }
    sawProposal = true;
    if (cfg.config.mode === 'transport' && !wantsTransport) continue;
    const tsi = narrow(resolveTs(cfg.remoteTs, sa.remote.address), theirTsi);
    const tsr = narrow(resolveTs(cfg.localTs, sa.local.address), theirTsr);
    if (tsi.length === 0 || tsr.length === 0) continue;
    let gir: Buffer | undefined;
    let keOut: Payload | undefined;
    if (chosen.dh !== undefined) {
      if (!ke || !isSupportedGroup(ke.group)) return refuse(Notify.INVALID_KE_PAYLOAD, u16(chosen.dh));
      const dh = generateDh(ke.group, ctx.random);
      const s = dh.computeSecret(ke.data);
      if (!s) return refuse(Notify.INVALID_SYNTAX);
      gir = s;
      keOut = { type: PayloadType.KE, group: dh.group, data: dh.publicValue };
    }
    const spiIn = ctx.allocateChildSpi();
    const keys = deriveChildKeys(crypto.prf, crypto.keys.skD, ni, nr, keyLengths(chosen), gir);
    const mode = cfg.config.mode === 'transport' ? 'transport' : 'tunnel';
    const child = new ChildSa(ctx.nextSerial(), cfg, spiIn, sel.spi.readUInt32BE(0), keys.encrI2R, keys.encrR2I, chosen, tsr, tsi, mode, ctx.now());
    child.answered = true;
    const payloads: Payload[] = [];
    if (mode === 'transport') payloads.push(notify(Notify.USE_TRANSPORT_MODE));
    payloads.push({ type: PayloadType.SA, proposals: [buildAnswer(chosen, sel.num, spiBytes(spiIn))] });
    if (!opts.inAuth) payloads.push({ type: PayloadType.NONCE, data: nr });
    if (keOut) payloads.push(keOut);
    payloads.push({ type: PayloadType.TSi, selectors: tsi.map(toEntry) });
    payloads.push({ type: PayloadType.TSr, selectors: tsr.map(toEntry) });
    return { payloads, child };
  }
  if (invalidKe !== undefined && !sawProposal) return refuse(Notify.INVALID_KE_PAYLOAD, u16(invalidKe));
  return refuse(sawProposal ? Notify.TS_UNACCEPTABLE : Notify.NO_PROPOSAL_CHOSEN);
}

/**
 * Whether a child request (SA/TSi/TSr of IKE_AUTH) would be accepted by one of these child
 * configs, without allocating anything: the responder uses it to pick among connections to the
 * same peer (the seed's `-in-1` / `-out-1` pairs).
 */
export function childRequestFits(sa: IkeSa, children: readonly ResolvedChild[], msg: IkeMessage, exact: boolean): boolean {
  const saP = findPayload(msg.payloads, PayloadType.SA);
  const tsiP = findPayload(msg.payloads, PayloadType.TSi);
  const tsrP = findPayload(msg.payloads, PayloadType.TSr);
  if (!saP || !tsiP || !tsrP) return false;
  const wantsTransport = findNotify(msg.payloads, Notify.USE_TRANSPORT_MODE) !== undefined;
  return children.some((cfg) => {
    if (!selectProposal(cfg.esp, saP.proposals, { spiSize: 4, ignoreDh: true })) return false;
    if (cfg.config.mode === 'transport' && !wantsTransport) return false;
    const remote = resolveTs(cfg.remoteTs, sa.remote.address);
    const local = resolveTs(cfg.localTs, sa.local.address);
    const tsi = fromEntries(tsiP.selectors);
    const tsr = fromEntries(tsrP.selectors);
    // exact: what the peer proposes lies within our selectors, no narrowing needed
    if (exact) return allWithin(tsi, remote) && allWithin(tsr, local);
    return narrow(remote, tsi).length > 0 && narrow(local, tsr).length > 0;
  });
}

export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
