import path from 'node:path';
import { replaceFile } from '../store/atomic-file.js';
import { AGENT_STATE_FILE } from './control.js';
import type { ControlPlaneView } from './control-plane.js';
import type { DesiredState } from './desired.js';
import type { NodeModePhase } from './pair-mode.js';

export type AgentPhase = 'starting' | 'waiting-network' | 'enrolling' | 'waiting-subnet' | 'running' | 'stopping' | 'stopped';

/** What `agent/state` answers and `<node dir>/agent.json` holds: the simple signal `up` waits on. */
export interface AgentState {
  node: string;
  system_id: string | undefined;
  pid: number;
  phase: AgentPhase;
  ipsec: string | undefined;
  /** Where the node is with that mode: Full or Disabled once every pair is there, else enabling / disabling. */
  ipsec_phase: string | undefined;
  underlay: string | undefined;
  subnet: string | undefined;
  peers: number;
  tunnels: number;
  established: number;
  /** Connections with an established IKE SA, and their distinct installed child SAs (readiness.ts saCounts). */
  ike_sas: number;
  child_sas: number;
  /** All peers have tunnels, and with IPsec on, both children of each are installed. */
  ready: boolean;
  waiting: { node: string; reason: string }[];
  /** Whether the store answers; unreachable means the node runs on what it last read (static stability). */
  control_plane: ControlPlaneView;
  socket: string;
  updated_at: string;
}

export interface StateInput {
  node: string;
  systemId: string | undefined;
  underlay: string | undefined;
  phase: AgentPhase;
  desired: DesiredState | undefined;
  /** Undefined: no data plane yet. */
  readiness: Readiness | undefined;
  controlPlane: ControlPlaneView;
  socket: string;
  now: number;
}

/** What readiness is made of: the node's tunnels, how many are established (readiness.ts), the IPsec mode's phase. */
export interface Readiness {
  ipsec: boolean;
  tunnels: number;
  established: number;
  ikeSas: number;
  childSas: number;
  modePhase: NodeModePhase;
}

export function agentState(i: StateInput): AgentState {
  const r = i.readiness;
  const d = i.desired;
  const peers = d?.peers.length ?? 0;
  const tunnels = r?.tunnels ?? 0;
  const established = r?.established ?? 0;
  const ready = i.phase === 'running' && !!r && tunnels === peers && (r.ipsec ? established === peers : true);
  return {
    node: i.node,
    system_id: i.systemId,
    pid: process.pid,
    phase: i.phase,
    ipsec: d?.mode,
    ipsec_phase: r?.modePhase,
    underlay: i.underlay,
    subnet: d?.local?.subnet,
    peers,
    tunnels,
    established,
    ike_sas: r?.ikeSas ?? 0,
    child_sas: r?.childSas ?? 0,
    ready,
    waiting: d?.waiting ?? [],
    control_plane: i.controlPlane,
    socket: i.socket,
    updated_at: new Date(i.now).toISOString(),
  };
}

/** `<node dir>/agent.json`, rewritten (atomically) when something other than the time changed. */
export class StateFile {
  private last = '';
  private writes: Promise<void> = Promise.resolve();
  private readonly file: string;

  constructor(dir: string) {
    this.file = path.join(dir, AGENT_STATE_FILE);
  }

  write(st: AgentState): void {
    const key = JSON.stringify({ ...st, updated_at: '' });
    if (key === this.last) return;
    this.last = key;
    // Writes go out in the order they were made: two in flight at once could otherwise finish in
    // the other order and leave the older state in the file, with nothing left to correct it.
    const text = JSON.stringify(st, null, 2) + '\n';
    this.writes = this.writes.then(() => replaceFile(this.file, text, 0o644)).catch(() => undefined);
  }

  /** The next write goes out even if unchanged (the final one). */
  reset(): void {
    this.last = '';
  }

  /** Resolves once every write made so far is done. */
  flushed(): Promise<void> {
    return this.writes;
  }
}
