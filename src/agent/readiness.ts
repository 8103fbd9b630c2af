/**
 * How many of the node's tunnels are established — what the state file and `agent/state` say,
 * counted from the IKE engine's SAs directly. The same rule as `tunnelsShow`'s `established`
 * (an established IKE SA of the tunnel's name, and an installed or rekeying child of each of its
 * `-in-1` and `-out-1` names), without building the tunnels/show view: that view joins every
 * tunnel with every child and formats every SA, and the state is looked at after every child
 * install, IKE SA going down and node sync — on a 100-node cluster that was most of an idle
 * agent's work.
 */

import { shownEstablished } from '../ike/status.js';
import type { IkeSaState } from '../ike/view.js';

/** The parts of an IKE SA (the engine's view) readiness looks at. */
export interface SaForReadiness {
  connection: string;
  state: IkeSaState;
  children: readonly { name: string; state: string }[];
}

/** The tunnels (by name) whose IKE SA is established with both children in use. */
export function establishedTunnels(tunnels: readonly string[], sas: Iterable<SaForReadiness>): number {
  const ikeUp = new Set<string>();
  const childUp = new Set<string>();
  for (const sa of sas) {
    if (sa.state === 'established') ikeUp.add(sa.connection);
    for (const c of sa.children) if (c.state === 'installed' || c.state === 'rekeying') childUp.add(c.name);
  }
  let n = 0;
  for (const t of tunnels) if (ikeUp.has(t) && childUp.has(`${t}-in-1`) && childUp.has(`${t}-out-1`)) n++;
  return n;
}

/**
 * The SA counts `up`'s progress line shows: connections with an IKE SA that `ipsec status` shows
 * established, and the distinct installed children in those SAs (while a simultaneous start is
 * being resolved a connection may briefly hold two IKE SAs or duplicate children: what counts is
 * whether each one is up). Answered in `agent/state`, so that `up` need not ask every agent for
 * its whole status (every SA formatted, as text and JSON) at every poll.
 */
export function saCounts(sas: Iterable<SaForReadiness>): { ikeSas: number; childSas: number } {
  const ike = new Set<string>();
  const children = new Set<string>();
  for (const sa of sas) {
    if (!shownEstablished(sa.state)) continue;
    ike.add(sa.connection);
    for (const c of sa.children) if (c.state === 'installed') children.add(`${sa.connection}/${c.name}`);
  }
  return { ikeSas: ike.size, childSas: children.size };
}
