/** Shared vocabulary of the ESP engine: modes, drop causes and lifetimes (selectors: wire/traffic-selector.ts). */

export type EspMode = 'tunnel' | 'transport';

/** Why an inbound packet was refused. Every refusal is counted under exactly one cause. */
export type DropCause = 'auth_failed' | 'replay' | 'unknown_spi' | 'malformed' | 'policy' | 'lifetime';

export const DROP_CAUSES: readonly DropCause[] = ['auth_failed', 'replay', 'unknown_spi', 'malformed', 'policy', 'lifetime'];

/** A lifetime limit; an absent or 0 field means unlimited. */
export interface Lifetime {
  seconds?: number;
  bytes?: number;
  packets?: number;
}

/** Why an SA expired. 'seq' = the 32-bit sequence number space is (nearly) used up. */
export type ExpiryReason = 'time' | 'bytes' | 'packets' | 'seq';

/** What the data path tells its owner (the daemon, later the IKE engine) about SA lifetimes. */
export type EspEvent =
  | { type: 'soft-expired'; child: string; spiIn: number; reason: ExpiryReason }
  | { type: 'hard-expired'; child: string; spiIn: number; reason: ExpiryReason };
