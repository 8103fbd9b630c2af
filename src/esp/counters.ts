import { DROP_CAUSES, type DropCause } from './types.js';

/** Counts of refused inbound packets, one field per cause (the shape `ipsec status --json` shows). */
export type DropCounts = Record<DropCause, number>;

export function newDropCounts(): DropCounts {
  return { auth_failed: 0, replay: 0, unknown_spi: 0, malformed: 0, policy: 0, lifetime: 0 };
}

export function totalDrops(d: DropCounts): number {
  let n = 0;
  for (const c of DROP_CAUSES) n += d[c];
  return n;
}

/** Why an outbound packet from the TUN was not sent. None of these ever leaves in cleartext. */
export type OutboundDropCause = 'no_policy' | 'no_sa' | 'policy' | 'malformed' | 'lifetime' | 'oversize';

export type OutboundDropCounts = Record<OutboundDropCause, number>;

export function newOutboundDropCounts(): OutboundDropCounts {
  return { no_policy: 0, no_sa: 0, policy: 0, malformed: 0, lifetime: 0, oversize: 0 };
}
