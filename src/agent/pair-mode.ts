/**
 * How one node pair moves between plain Geneve and Geneve in ESP without losing a packet: the
 * typed per-peer transition state and its planner. Pure (no engine, no store, no clock): each
 * node plans every pair from the cluster's wanted mode, what its own ESP data path holds, and
 * what the peer last reported of the pair (its state and the inbound SPIs it holds), and reports
 * its own state back through the store. The invariant every step keeps, for each direction:
 * a sender sends plain only to a receiver that accepts plain from it, and ESP only on an SA pair
 * the receiver holds.
 *
 * Enabling (wanted Full):   plain → enabling → sending-esp → encrypted
 *   enabling     SAs are set up; we still send plain and accept both.
 *   sending-esp  the peer reports holding the inbound SAs our outbound uses: we send ESP; we still
 *                accept plain, since the peer may not have switched yet.
 *   encrypted    the peer reports sending ESP (and a drain time passed for its plain packets in
 *                flight): cleartext Geneve from it is dropped and counted.
 * Disabling (wanted Disabled): encrypted → opening → sending-plain → plain
 *   opening        we accept plain from the peer again and still send ESP.
 *   sending-plain  the peer reports accepting plain: we send plain; SAs stay for its ESP.
 *   plain          the peer reports no longer sending ESP (and a drain time passed): SAs deleted.
 *
 * Only the operator's mode moves a pair towards plain: in Full, no report of a peer leads
 * anywhere but towards encrypted, so a peer cannot talk a node into plain. A pair first seen
 * starts in the wanted mode's end state (encrypted or plain): strict from the start.
 */
export type PairState = 'plain' | 'enabling' | 'sending-esp' | 'encrypted' | 'opening' | 'sending-plain';
export const PAIR_STATES: readonly PairState[] = ['plain', 'enabling', 'sending-esp', 'encrypted', 'opening', 'sending-plain'];

export type WantedMode = 'Full' | 'Disabled';

/** Whether a node in this pair state sends the peer ESP (else plain Geneve). */
export function sendsEsp(s: PairState): boolean {
  return s === 'sending-esp' || s === 'encrypted' || s === 'opening';
}

/** Whether a node in this pair state accepts cleartext Geneve from the peer. */
export function acceptsPlain(s: PairState): boolean {
  return s !== 'encrypted';
}

/** Whether the pair needs its IKE connection and SAs in this state. */
export function needsSas(s: PairState): boolean {
  return s !== 'plain';
}

/** What a node reports of one pair (through the store). */
export interface PeerReport {
  state: PairState;
  /** Inbound SPIs the reporting node's data path holds for the pair. */
  spisIn: readonly number[];
}

/** What a node remembers of one pair between plans. */
export interface PairMemory {
  state: PairState;
  since: number;
  /** Since when the peer's report has allowed the next step that waits for a drain (undefined: not yet). */
  drainFrom: number | undefined;
}

export interface PairPlanInput {
  wanted: WantedMode;
  memory: PairMemory | undefined;
  /** The outbound SPIs our data path uses for the pair, one per child (undefined: not every child is installed). */
  spisOut: readonly number[] | undefined;
  /** The peer's last report of this pair (undefined: none yet). */
  peer: PeerReport | undefined;
  now: number;
  /** How long plain (or ESP) packets of the peer may still be in flight after it reports switching. */
  drainMs: number;
}

export interface PairPlan {
  memory: PairMemory;
  /** The state changed in this plan. */
  changed: boolean;
  /** A drain the plan waits on: look again after this long. */
  recheckInMs?: number;
}

/** The next state of one pair (one step at most: each step is reported before the next). */
export function planPair(input: PairPlanInput): PairPlan {
  const { wanted, now, peer } = input;
  const m = input.memory;
  if (!m) return { memory: { state: wanted === 'Full' ? 'encrypted' : 'plain', since: now, drainFrom: undefined }, changed: true };
  const to = (state: PairState): PairPlan => ({ memory: { state, since: now, drainFrom: undefined }, changed: state !== m.state });
  const stay: PairPlan = { memory: m, changed: false };
  // 'no': the peer's report does not allow the step; 'done': it has for drainMs; else the wait.
  const drained = (ready: boolean): PairPlan | 'done' | 'no' => {
    if (!ready) {
      m.drainFrom = undefined;
      return 'no';
    }
    m.drainFrom ??= now;
    const left = m.drainFrom + input.drainMs - now;
    return left <= 0 ? 'done' : { memory: m, changed: false, recheckInMs: left };
  };

  if (wanted === 'Full') {
    switch (m.state) {
      case 'plain':
      case 'sending-plain':
        return to('enabling');
      case 'enabling':
        // A peer that reports moving towards plain (it has not seen Full yet) may drop its SAs.
        return peerHolds(input.spisOut, peer) && (peer!.state === 'enabling' || peer!.state === 'sending-esp' || peer!.state === 'encrypted') ? to('sending-esp') : stay;
      case 'opening':
      case 'sending-esp': {
        // A peer still 'opening' (a disable it has not seen undone) may be about to send plain.
        const d = drained(peer !== undefined && (peer.state === 'sending-esp' || peer.state === 'encrypted'));
        if (d === 'done') return to('encrypted');
        if (d === 'no' && m.state === 'opening') return to('sending-esp');
        return d === 'no' ? stay : d;
      }
      case 'encrypted':
        return stay;
    }
  }
  switch (m.state) {
    case 'encrypted':
    case 'sending-esp':
      return to('opening');
    case 'enabling':
      return to('sending-plain');
    case 'opening':
      return peer !== undefined && acceptsPlain(peer.state) ? to('sending-plain') : stay;
    case 'sending-plain': {
      const d = drained(peer === undefined || !sendsEsp(peer.state));
      if (d === 'done') return to('plain');
      return d === 'no' ? stay : d;
    }
    case 'plain':
      return stay;
  }
}

/** Every outbound SPI we would use is an inbound SPI the peer reports holding. */
function peerHolds(spisOut: readonly number[] | undefined, peer: PeerReport | undefined): boolean {
  if (!spisOut || spisOut.length === 0 || !peer) return false;
  const held = new Set(peer.spisIn);
  return spisOut.every((s) => held.has(s));
}

/** The node's mode as reported: the wanted one once every pair reached its end state, else the way it is going. */
export type NodeModePhase = 'Full' | 'Disabled' | 'enabling' | 'disabling';

export function nodePhase(wanted: WantedMode, states: Iterable<PairState>): NodeModePhase {
  const end: PairState = wanted === 'Full' ? 'encrypted' : 'plain';
  for (const s of states) if (s !== end) return wanted === 'Full' ? 'enabling' : 'disabling';
  return wanted;
}
