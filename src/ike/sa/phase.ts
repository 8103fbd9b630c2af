import type { IkeSaKeys } from '../../crypto/ike-kdf.js';
import type { Prf } from '../../crypto/prf.js';
import type { ChosenProposal } from '../proposals.js';

/**
 * The phases of an IKE SA (RFC 7296 §1.2–§1.4, §2.8), as a discriminated union: key material is
 * part of the phases that have it, so code that reaches for SK_d or the PRF has to be in one.
 *
 *   init-sent ──IKE_SA_INIT answered──▶ authenticating ──IKE_AUTH──▶ established
 *   (responder and rekey-made SAs start in authenticating, keys derived)
 *   established ──our rekey out──▶ rekeying ──answered──▶ established | rekeyed
 *   established ──peer rekeyed it──▶ rekeyed ;  any keyed ──our DELETE out──▶ deleting
 *   any ──▶ closed (gone: deleted, failed, expired; keys dropped)
 */
export type IkeState = 'init-sent' | 'authenticating' | 'established' | 'rekeying' | 'rekeyed' | 'deleting' | 'closed';

/** An IKE proposal as negotiated: IKE always has a PRF and a key exchange group. */
export type IkeProposal = ChosenProposal & { prf: number; dh: number };

/** What IKE_SA_INIT (or the rekey that made the SA) negotiated. */
export interface IkeCrypto {
  readonly proposal: IkeProposal;
  readonly prf: Prf;
  /** Replaced once, by compactEstablished (drops SK_pi/SK_pr after IKE_AUTH). */
  keys: IkeSaKeys;
}

export type IkePhase =
  /** We sent IKE_SA_INIT; nothing is negotiated yet. */
  | { readonly state: 'init-sent' }
  /** Keys derived; IKE_AUTH under way (or, for a rekey's new SA, not yet taken into use). */
  | { readonly state: 'authenticating'; readonly crypto: IkeCrypto }
  | { readonly state: 'established'; readonly crypto: IkeCrypto }
  /** Our CREATE_CHILD_SA rekeying this IKE SA is out: no new work starts on it meanwhile. */
  | { readonly state: 'rekeying'; readonly crypto: IkeCrypto }
  /** Replaced by a rekey (or lost a rekey collision): waits for its DELETE. */
  | { readonly state: 'rekeyed'; readonly crypto: IkeCrypto }
  /** Our DELETE of it is out. */
  | { readonly state: 'deleting'; readonly crypto: IkeCrypto }
  | { readonly state: 'closed' };

export type KeyedPhase = Extract<IkePhase, { crypto: IkeCrypto }>;

/** The IKE proposal of a negotiation, or undefined when it lacks the PRF or group IKE needs. */
export function ikeProposal(chosen: ChosenProposal): IkeProposal | undefined {
  const { prf, dh } = chosen;
  return prf === undefined || dh === undefined ? undefined : { ...chosen, prf, dh };
}

const ALLOWED: Record<IkeState, readonly IkeState[]> = {
  'init-sent': ['authenticating', 'closed'],
  // A rekey's new SA goes from here to rekeyed (it lost a collision) or deleting (redundant).
  authenticating: ['established', 'rekeyed', 'deleting', 'closed'],
  established: ['rekeying', 'rekeyed', 'deleting', 'closed'],
  rekeying: ['established', 'rekeyed', 'deleting', 'closed'],
  rekeyed: ['deleting', 'closed'],
  deleting: ['closed'],
  closed: [],
};

/** Throws on a move the phase diagram does not have (a bug; the engine counts it as an internal error). */
export function checkTransition(from: IkeState, to: IkeState): void {
  if (!ALLOWED[from].includes(to)) throw new Error(`IKE SA state ${from} → ${to} is not a valid transition`);
}
