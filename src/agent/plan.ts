import type { IkeConnectionConfig } from '../ike/config.js';

/**
 * The words the agent's connection planner speaks: what it sees of the IKE engine, what the store
 * wants, what it remembers per peer, and the actions it asks for. The planner (planner.ts) is a
 * pure function of these; the executor (executor.ts) applies the actions.
 */

/** An IKE SA as the planner sees it: being made, up, replaced by a rekey, or being deleted. */
export type ObservedSaState = 'connecting' | 'established' | 'rekeyed' | 'deleting';
export type ObservedChildState = 'installed' | 'rekeying' | 'rekeyed' | 'deleting';

export interface ObservedChild {
  /** The child's config name (`<tunnel>-in-1`). */
  name: string;
  serial: number;
  spiIn: number;
  state: ObservedChildState;
  /** We answered the exchange that made it: the peer installs it only once our answer arrives. */
  answered: boolean;
}

export interface ObservedSa {
  serial: number;
  state: ObservedSaState;
  children: ObservedChild[];
}

/** One peer's connection as the store wants it. */
export interface DesiredConnection {
  name: string;
  config: IkeConnectionConfig;
  /** The config's content hash: another hash is another connection (replaced). */
  hash: string;
  peerNode: string;
  peerSystemId: string;
  peerAddress: string;
  /** This end starts IKE for the pair (the lower system-id). */
  initiator: boolean;
  /** The peer's certificate serial as its node record says. */
  peerCert: string | undefined;
}

/** What the planner keeps per connection between syncs. */
export interface ConnMemory {
  hash: string;
  initiator: boolean;
  /** Since when no IKE SA existed (the responder's grace period). */
  noSaSince: number | undefined;
  /** An initiation of ours that has not (yet) produced an established IKE SA: since when. */
  attemptSince: number | undefined;
  /** Since when a child of the established IKE SA has been missing, and when we last asked for one. */
  childMissingSince: number | undefined;
  lastChildAttempt: number | undefined;
  /** The credentials generation the connection's SAs were made (or re-authenticated) with. */
  credsEpoch: number;
  /**
   * A make-before-break re-authentication in progress: the IKE SAs (serials) it replaces, and
   * when it (last) started. The old SAs are deleted only once a new one carries every child.
   */
  reauth: { old: number[]; since: number } | undefined;
  /** The peer's certificate serial as last acted on, and since when the store says another. */
  peerCert: string | undefined;
  peerCertChangedAt: number | undefined;
  /** IKE SAs (serials) and children (inbound SPIs) we asked to delete: asked once, not again. */
  deletingSas: number[];
  deletingChildren: number[];
}

export interface PlanTiming {
  /** How long the higher system-id waits for the peer to initiate before it initiates itself. */
  responderGraceMs: number;
  /** How long a peer's new certificate serial must stand before the initiator re-authenticates for it. */
  peerCertSettleMs: number;
  /** How long a re-authentication may go without a new IKE SA before it is started again. */
  reauthRetryMs: number;
  /** How long a child of an established IKE SA may be missing before it is asked for. */
  childGraceMs: number;
  /** How often a missing child is asked for again while its IKE SA lives. */
  childRetryMs: number;
}

export const DEFAULT_PLAN_TIMING: PlanTiming = { responderGraceMs: 8000, peerCertSettleMs: 1000, reauthRetryMs: 5000, childGraceMs: 2000, childRetryMs: 10_000 };

export type InitiateReason = 'initiator' | 'responder-grace' | 'unknown-spi';
export type ReauthCause = 'credentials' | 'peer-certificate' | 'retry';

export type PlanAction =
  | { kind: 'add-connection'; conn: DesiredConnection }
  | { kind: 'remove-connection'; name: string; peerNode: string | undefined; replaced: boolean }
  | { kind: 'initiate'; name: string; reason: InitiateReason; peerAddress: string }
  /** A new IKE SA next to `replaces`, which are deleted once it carries every child. */
  | { kind: 'reauthenticate'; name: string; replaces: number[]; cause: ReauthCause; peerCert?: string }
  | { kind: 'delete-ike-sa'; name: string; serial: number; reason: 'reauthenticated' | 'duplicate'; keep?: number }
  | { kind: 'delete-child'; name: string; child: string; serial: number; spiIn: number }
  | { kind: 'create-child'; name: string; child: string };

/** Everything one connection's plan is made from. */
export interface PlanInput {
  name: string;
  desired: DesiredConnection | undefined;
  memory: ConnMemory | undefined;
  /** The engine's IKE SAs of this connection (dead ones left out). */
  observed: ObservedSa[];
  /** The node's credentials generation: it moves when our certificate changed or trust narrowed. */
  credsEpoch: number;
  /** ESP for an unknown SPI came from this peer (and the trigger's rate limits let it through). */
  unknownSpi: boolean;
  now: number;
  timing: PlanTiming;
}

/**
 * The plan: the actions, what to remember, and how the sync went — `ok` (an IKE SA is up),
 * `failed` (an initiation of ours came to nothing and was started again: back off), `pending`.
 * `recheckInMs`: a timer the plan waits on (grace, settle, retry).
 */
export interface Plan {
  actions: PlanAction[];
  memory: ConnMemory | undefined;
  outcome: 'ok' | 'failed' | 'pending';
  recheckInMs?: number;
}
