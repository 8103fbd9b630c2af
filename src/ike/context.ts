import type { IkeAuthProvider } from './auth-provider.js';
import type { ResolvedConnection } from './config.js';
import type { IkeOutput } from './events.js';
import type { ChildSa } from './sa/child-sa.js';
import type { IkeCrypto, IkePhase, IkeSa, IkeState, RetransmitPolicy } from './sa/ike-sa.js';

/** Tunables of the engine; all times in ms. */
export interface EngineTimers {
  retransmit: RetransmitPolicy;
  /** A responder's half-open SA is dropped after this long without IKE_AUTH. */
  halfOpenTimeoutMs: number;
  /** Above this many half-open SAs, IKE_SA_INIT must carry a valid COOKIE (§2.6). */
  cookieThreshold: number;
  /** Above this many half-open SAs, new IKE_SA_INIT requests are dropped. */
  maxHalfOpen: number;
  /** A rekeyed IKE SA / CHILD SA the peer should delete is deleted by us after this long. */
  rekeyedLingerMs: number;
  /** Delay before retrying a CREATE_CHILD_SA answered with TEMPORARY_FAILURE. */
  retryAfterMs: number;
  /**
   * At most this many IKE SAs we initiate wait for IKE_SA_INIT / IKE_AUTH answers at once; more
   * initiations queue (the window shrinks while retransmissions are needed, see pacer.ts).
   */
  initiationWindow: number;
  /** Mean gap between our initiations' starts, jittered ±50 % (0: none; see pacer.ts). */
  initiationSpacingMs: number;
}

export const DEFAULT_TIMERS: EngineTimers = {
  retransmit: { timeoutMs: 4000, base: 1.8, tries: 5 },
  halfOpenTimeoutMs: 30_000,
  cookieThreshold: 10,
  maxHalfOpen: 1000,
  rekeyedLingerMs: 30_000,
  retryAfterMs: 2000,
  initiationWindow: 32,
  initiationSpacingMs: 0,
};

/**
 * What the exchange tasks may use of the engine: clock, randomness, credentials, identifiers,
 * and the SA events (up, down, state). Queueing further exchanges and destroying the SA they run
 * on are not here: a task returns those as its outcome (tasks/task.ts).
 */
export interface EngineContext {
  now(): number;
  random(n: number): Buffer;
  readonly auth: IkeAuthProvider;
  readonly timers: EngineTimers;
  emit(o: IkeOutput): void;
  log(sa: IkeSa, text: string, child?: ChildSa): void;
  nextSerial(): number;
  /** A fresh inbound ESP SPI, unique among ours, never 0..255 (reserved, RFC 4303). */
  allocateChildSpi(): number;
  /** A fresh, unique, non-zero IKE SPI. */
  allocateIkeSpi(): Buffer;
  /** Makes the SA findable by our SPI (a new one, or again once the responder SPI is known). */
  register(sa: IkeSa): void;
  childUp(sa: IkeSa, child: ChildSa, replaces?: ChildSa): void;
  childDown(sa: IkeSa, child: ChildSa, reason: string): void;
  /** Takes the SA into use: established (the one place that happens), deadlines set, ike-up emitted. */
  ikeUp(sa: IkeSa, crypto: IkeCrypto, reason: string): void;
  /** Moves the SA to another state (IkeSa.transition): checked, logged, emitted. */
  transition(sa: IkeSa, to: IkeState | IkePhase, reason: string): void;
  /** INITIAL_CONTACT: drop older IKE SAs of this connection with the same peer (§2.4). */
  initialContact(sa: IkeSa): void;
  describeId(id: { type: number; data: Buffer } | undefined): string;
  /** Whether we hold another live IKE SA with this SA's peer (address). */
  hasOtherIkeSa(sa: IkeSa): boolean;
  /** Other connections between the same addresses as this SA (candidates when its children do not fit). */
  siblings(sa: IkeSa): ResolvedConnection[];
}
