import type { DataplaneDoc } from '../store/documents.js';
import type { PeerSpec } from '../overlay/peer-table.js';
import { parseIpv4 } from '../wire/address.js';
import type { PeerPaths } from './dataplane.js';
import { byCodeUnit } from '../util/text-order.js';
import {
  acceptsPlain, needsSas, nodePhase, planPair, sendsEsp,
  type NodeModePhase, type PairMemory, type PairState, type PeerReport, type WantedMode,
} from './pair-mode.js';

/** What our data path holds for one pair (from the IPsec stack; none while it is not running). */
export interface PairHolding {
  /** Outbound SPIs our data path uses, one per child; undefined: not every child is installed. */
  spisOut: readonly number[] | undefined;
  /** Inbound SPIs installed for the pair. */
  spisIn: readonly number[];
}

export interface ModeStep {
  /** Some pair changed state: the data path's paths and the report follow. */
  changed: boolean;
  recheckInMs?: number;
}

/**
 * The node's side of switching IPsec on and off: one PairMemory per peer node, planned by
 * planPair from the wanted mode, what our data path holds and the peer's report; the paths the
 * data path takes from them (who is sent ESP, whose cleartext is accepted), which connections
 * need SAs, and the report the node publishes (dataplane/<node>). Holds no I/O: the node sync
 * reads the store and the stack and applies what this says.
 */
export class ModeSwitch {
  private pairs = new Map<string, PairMemory>();
  private underlays = new Map<string, number>();
  private wantedMode: WantedMode = 'Full';

  constructor(private readonly drainMs: number) {}

  get wanted(): WantedMode {
    return this.wantedMode;
  }

  /** One plan over every peer; peers gone are forgotten. */
  step(wanted: WantedMode, peers: readonly PeerSpec[], holding: (peer: PeerSpec) => PairHolding, reports: ReadonlyMap<string, DataplaneDoc>, self: string, now: number): ModeStep {
    this.wantedMode = wanted;
    const next = new Map<string, PairMemory>();
    this.underlays = new Map();
    let changed = false;
    let recheck: number | undefined;
    for (const peer of peers) {
      const h = holding(peer);
      const r = reports.get(peer.node)?.peers[self];
      const report: PeerReport | undefined = r && { state: r.state, spisIn: r.spis_in };
      const plan = planPair({ wanted, memory: this.pairs.get(peer.node), spisOut: h.spisOut, peer: report, now, drainMs: this.drainMs });
      next.set(peer.node, plan.memory);
      this.underlays.set(peer.node, parseIpv4(peer.underlay) ?? 0);
      changed ||= plan.changed;
      if (plan.recheckInMs !== undefined) recheck = Math.min(recheck ?? Infinity, plan.recheckInMs);
    }
    changed ||= [...this.pairs.keys()].some((n) => !next.has(n));
    this.pairs = next;
    return { changed, ...(recheck === undefined ? {} : { recheckInMs: recheck }) };
  }

  state(peerNode: string): PairState | undefined {
    return this.pairs.get(peerNode)?.state;
  }

  states(): Map<string, PairState> {
    return new Map([...this.pairs].map(([n, m]) => [n, m.state]));
  }

  phase(): NodeModePhase {
    return nodePhase(this.wantedMode, [...this.pairs.values()].map((m) => m.state));
  }

  /** Some pair is between modes: the peers' reports matter now. */
  switching(): boolean {
    const p = this.phase();
    return p === 'enabling' || p === 'disabling';
  }

  /**
   * Some pair is in a state whose next step waits on the peer's report: planPair reads a report
   * only for a pair between end states (a pair first seen, or encrypted or plain, steps without
   * one), so the node sync lists the peers' reports only while this holds.
   */
  readsReports(): boolean {
    for (const m of this.pairs.values()) if (m.state !== 'encrypted' && m.state !== 'plain') return true;
    return false;
  }

  /** Whether the pair with this peer needs its IKE connection. */
  needsSas(peerNode: string): boolean {
    const s = this.state(peerNode);
    return s !== undefined && needsSas(s);
  }

  /** Some pair needs SAs, or IPsec is wanted: the IPsec stack must run. */
  needsStack(): boolean {
    return this.wantedMode === 'Full' || [...this.pairs.values()].some((m) => needsSas(m.state));
  }

  paths(): PeerPaths {
    const esp = new Set<number>();
    const cleartext = new Set<number>();
    for (const [node, m] of this.pairs) {
      const addr = this.underlays.get(node)!;
      if (sendsEsp(m.state)) esp.add(addr);
      if (acceptsPlain(m.state)) cleartext.add(addr);
    }
    // With no peers yet, the wanted mode decides (a peer appearing is planned before it is used).
    const allEsp = this.pairs.size === 0 ? this.wantedMode === 'Full' : esp.size === this.pairs.size;
    return { esp, cleartext, allEsp };
  }

  /** The node's report: wanted mode, phase and each pair's state with the inbound SPIs we hold. */
  report(node: string, holding: (peerNode: string) => readonly number[], now: number): DataplaneDoc {
    const peers: DataplaneDoc['peers'] = {};
    for (const [n, m] of [...this.pairs].sort(([a], [b]) => byCodeUnit(a, b))) peers[n] = { state: m.state, spis_in: [...holding(n)].sort((a, b) => a - b) };
    return { node, wanted: this.wantedMode, phase: this.phase(), peers, updated_at: new Date(now).toISOString() };
  }
}
