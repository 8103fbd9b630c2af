import type { TrafficSelector } from '../../wire/traffic-selector.js';
import type { ResolvedChild } from '../config.js';
import type { ChosenProposal } from '../proposals.js';

export type ChildState = 'installed' | 'rekeying' | 'rekeyed' | 'deleting';

/**
 * installed ⇄ rekeying (our rekey out; back when it fails) → rekeyed (a new pair replaced it) →
 * deleting (our DELETE out); a redundant new pair of a collision goes straight to deleting.
 */
const CHILD_ALLOWED: Record<ChildState, readonly ChildState[]> = {
  installed: ['installed', 'rekeying', 'rekeyed', 'deleting'],
  rekeying: ['rekeying', 'installed', 'rekeyed', 'deleting'],
  rekeyed: ['rekeyed', 'deleting'],
  deleting: ['deleting'],
};

/** A negotiated CHILD SA pair (inbound + outbound ESP SA). */
export class ChildSa {
  #state: ChildState = 'installed';
  /** When this child is due for rekeying (ms), if ever. */
  rekeyAt?: number;
  /** Set on the old child when the peer rekeyed it while our own rekey was pending (§2.8.1). */
  peerRekey?: { nonces: [Buffer, Buffer]; replacement: ChildSa };
  /**
   * Made by an exchange the peer started: we install it before the peer has the response, so
   * our outbound must not move to it until the peer shows it has it too (see ChildSpec.deferOutbound).
   */
  answered = false;
  /** The inbound SPI of the child this one rekeyed (set when it is handed to the data path). */
  replacesSpiIn?: number;

  constructor(
    readonly serial: number,
    readonly cfg: ResolvedChild,
    readonly spiIn: number,
    readonly spiOut: number,
    /** Handed to the data path once (child-up), then released: the data path keeps its own copies. */
    public keyIn: Buffer,
    public keyOut: Buffer,
    readonly chosen: ChosenProposal,
    readonly localTs: TrafficSelector[],
    readonly remoteTs: TrafficSelector[],
    readonly mode: 'tunnel' | 'transport',
    readonly establishedAt: number,
  ) {}

  get state(): ChildState {
    return this.#state;
  }

  /** The one way a child changes state (staying is allowed); throws on a move the diagram above does not have (a bug). */
  transition(to: ChildState): void {
    if (!CHILD_ALLOWED[this.#state].includes(to)) throw new Error(`CHILD SA state ${this.#state} → ${to} is not a valid transition`);
    this.#state = to;
  }
}
