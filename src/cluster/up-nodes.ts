import type { NodePlan } from './topology.js';
import type { DaemonRecord, NodeDaemonKind } from './state.js';

/**
 * How `up` runs each node's data path: the node agent (up-agent.ts), with IPsec or (`--no-ipsec`)
 * plain Geneve; `up` sees it through this interface only.
 */

export interface NodeTunnelState {
  node: string;
  /** Geneve tunnels to other nodes. */
  tunnels: number;
  /** Tunnels whose traffic is protected as configured: with IPsec, an established SA pair; without, the tunnel itself. */
  established: number;
  /** Established child SAs (0 without IPsec). */
  childSas: number;
  /** Established IKE SAs (0 without IPsec). */
  ikeSas: number;
  /** The node's IPsec phase (Full, Disabled, enabling, disabling), when its daemon reports one. */
  mode?: string;
  /** Whether the node's daemon reaches the control plane (store), when it reports it. */
  controlPlane?: ControlPlaneReport;
}

/** A node daemon's word on its store: the last read answered, or failed since `since`. */
export interface ControlPlaneReport {
  state: 'connected' | 'unreachable';
  since: string;
  /** The liveness lease (etcd only): held, or lost (not renewed within its TTL). */
  liveness?: 'held' | 'lost';
}

/** A peer a node has no working tunnel to, and why (in the node's own words). */
export interface PeerProblem {
  peer: string;
  reason: string;
}

export interface DaemonStart {
  nice?: number;
  timeoutMs: number;
  intervalMs: number;
}

export interface NodeDaemonDriver {
  readonly kind: NodeDaemonKind;
  /** Work done once for all nodes before any daemon starts (e.g. registering them in order). */
  prepare?(nodes: readonly NodePlan[]): Promise<void>;
  /** Daemons started at once (default: up-start.ts startConcurrency); 1 keeps the plan's order. */
  readonly startConcurrency?: number;
  /**
   * Starts the node's daemon in its namespace at niceness `nice`; resolves once it has taken its
   * place (registered), looking every `intervalMs`, failing after `timeoutMs`.
   */
  start(node: NodePlan, o: DaemonStart): Promise<DaemonRecord>;
  /** Waits until the node's data path runs, telling each phase of its start-up it sees (e.g. an agent's). */
  ready(node: NodePlan, daemon: DaemonRecord, timeoutMs: number, intervalMs: number, onPhase?: (phase: string) => void): Promise<void>;
  /** The peers the node has no working tunnel to, and why; for the summary of a failed `up`. */
  missingPeers?(node: NodePlan, peers: readonly NodePlan[]): Promise<PeerProblem[]>;
  systemId(node: NodePlan): Promise<string>;
  /** The node's view of its tunnels, or undefined when it cannot be asked right now. */
  tunnels(node: NodePlan, daemon: DaemonRecord): Promise<NodeTunnelState | undefined>;
}
