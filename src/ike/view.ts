import type { TrafficSelector } from '../wire/traffic-selector.js';
import type { IkeId } from './auth-provider.js';
import type { Endpoint } from './events.js';
import type { ChosenProposal } from './proposals.js';
import type { ChildSa, ChildState } from './sa/child-sa.js';
import type { IkeSa } from './sa/ike-sa.js';
import type { IkeState } from './sa/phase.js';

/**
 * Typed, read-only views of the engine's SAs: what daemons and the node agent ask the engine
 * (`IkeEngine.sas()`), with numbers and unions rather than the text of `status()` (status.ts
 * formats these views; nothing should parse that text back).
 */

/**
 * Where an IKE SA is in its life (RFC 7296 §1.2–§1.4). SAs that are gone are not listed.
 * - `init-sent`: we sent IKE_SA_INIT and wait for the answer (no keys yet).
 * - `authenticating`: IKE_SA_INIT done (keys derived), IKE_AUTH under way — as initiator our
 *   request is out, as responder we wait for the peer's.
 * - `established`: authenticated; children may be created, rekeyed, deleted on it.
 * - `rekeying`: our CREATE_CHILD_SA rekeying this IKE SA is in flight; it is still the current
 *   one (work for the connection goes here and moves to the successor).
 * - `rekeyed`: replaced by another IKE SA (`replacedBy`), or the loser of a rekey collision;
 *   waits for its DELETE (ours or the peer's) and carries no new work.
 * - `deleting`: our DELETE of it is out; it accepts the peer's in-flight messages until answered.
 */
export type IkeSaState = Exclude<IkeState, 'closed'>;

/** Where a CHILD SA is: `installed`; `rekeying` (our rekey of it in flight); `rekeyed` (replaced, waiting for deletion); `deleting` (our DELETE out). */
export type ChildSaState = ChildState;

export interface ChildSaView {
  /** The child config's name (the data path's name is `${connection}/${name}`). */
  name: string;
  /** Unique among the engine's SAs (IKE and CHILD share one counter). */
  serial: number;
  state: ChildSaState;
  mode: 'tunnel' | 'transport';
  spiIn: number;
  spiOut: number;
  proposal: ChosenProposal;
  localTs: readonly TrafficSelector[];
  remoteTs: readonly TrafficSelector[];
  /** When it was negotiated and handed to the data path (engine clock, ms). */
  installedAt: number;
  /** When it is due for rekeying (ms), if ever. */
  rekeyAt: number | undefined;
  /** Made by an exchange the peer started: the peer may not have it installed yet (ChildSpec.deferOutbound). */
  answered: boolean;
  /** The inbound SPI of the child this one rekeyed, when it was made by a rekey. */
  replacesSpiIn: number | undefined;
}

export interface IkeSaView {
  /** Unique id of this IKE SA in the engine (a rekey makes a new one). */
  serial: number;
  connection: string;
  state: IkeSaState;
  /** We are the original initiator of this IKE SA. */
  initiator: boolean;
  /** IKE SPIs, big-endian as on the wire; spiR is 0n until the responder's answer. */
  spiI: bigint;
  spiR: bigint;
  local: Endpoint;
  remote: Endpoint;
  /** Identities, once IKE_AUTH carried them. */
  localId: IkeId | undefined;
  remoteId: IkeId | undefined;
  /** The negotiated IKE proposal, once IKE_SA_INIT is done. */
  proposal: ChosenProposal | undefined;
  /** When IKE_AUTH (or the rekey that made it) completed (ms). */
  establishedAt: number | undefined;
  /** When the engine will rekey it (ms), if scheduled. */
  rekeyAt: number | undefined;
  /** When the next liveness check is due (ms), if DPD is on. */
  dpdAt: number | undefined;
  /** When the engine drops it if nothing else happens (half-open or rekeyed SAs). */
  expireAt: number | undefined;
  /** Last time an authenticated IKE message or inbound ESP on a child proved the peer alive (ms). */
  lastHeardAt: number;
  /** Serial of the IKE SA that replaced this one by a rekey. */
  replacedBy: number | undefined;
  children: ChildSaView[];
}

const spiOf = (b: Buffer): bigint => (b.length === 8 ? b.readBigUInt64BE(0) : 0n);

export function childView(c: ChildSa): ChildSaView {
  return {
    name: c.cfg.name,
    serial: c.serial,
    state: c.state,
    mode: c.mode,
    spiIn: c.spiIn,
    spiOut: c.spiOut,
    proposal: c.chosen,
    localTs: c.localTs,
    remoteTs: c.remoteTs,
    installedAt: c.establishedAt,
    rekeyAt: c.rekeyAt,
    answered: c.answered,
    replacesSpiIn: c.replacesSpiIn,
  };
}

/** The view of an SA that is not closed (closed ones are not listed). */
export function ikeSaView(sa: IkeSa): IkeSaView | undefined {
  const state = sa.state;
  if (state === 'closed') return undefined;
  return {
    serial: sa.serial,
    connection: sa.name,
    state,
    initiator: sa.initiator,
    spiI: spiOf(sa.spiI),
    spiR: spiOf(sa.spiR),
    local: { ...sa.local },
    remote: { ...sa.remote },
    localId: sa.localId,
    remoteId: sa.remoteId,
    proposal: sa.crypto?.proposal,
    establishedAt: sa.establishedAt,
    rekeyAt: sa.rekeyAt,
    dpdAt: sa.dpdAt,
    expireAt: sa.expireAt,
    lastHeardAt: sa.lastHeard,
    replacedBy: sa.replacedBy?.serial,
    children: sa.children.map(childView),
  };
}
