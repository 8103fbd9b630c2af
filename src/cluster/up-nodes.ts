import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeOverlayConfigs } from './overlay-processes.js';
import type { NodePlan, TopologyPlan } from './topology.js';
import type { DaemonRecord, NodeDaemonKind } from './state.js';
import { isAlive, logEvents, spawnDaemon, waitForDaemon } from './up-processes.js';

/**
 * How `up` runs each node's data path: a driver per kind. The plain overlay runner
 * (overlay/node-runner.ts) carries cleartext Geneve only, so it serves `--no-ipsec` when the node
 * agent is not available; the agent (up-agent.ts) serves both modes.
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
}

/** A peer a node has no working tunnel to, and why (in the node's own words). */
export interface PeerProblem {
  peer: string;
  reason: string;
}

export interface NodeDaemonDriver {
  readonly kind: NodeDaemonKind;
  /** Work done once for all nodes before any daemon starts (e.g. registering them in order). */
  prepare?(nodes: readonly NodePlan[]): Promise<void>;
  /** Starts the node's daemon in its namespace; resolves once it has taken its place (registered). */
  start(node: NodePlan): Promise<DaemonRecord>;
  /** Waits until the node's data path runs. */
  ready(node: NodePlan, daemon: DaemonRecord, timeoutMs?: number): Promise<void>;
  /** Where the daemon is in its start-up (e.g. an agent's phase), when it says. */
  phase?(node: NodePlan): Promise<string | undefined>;
  /** The peers the node has no working tunnel to, and why; for the summary of a failed `up`. */
  missingPeers?(node: NodePlan, peers: readonly NodePlan[]): Promise<PeerProblem[]>;
  systemId(node: NodePlan): Promise<string>;
  /** The node's view of its tunnels, or undefined when it cannot be asked right now. */
  tunnels(node: NodePlan, daemon: DaemonRecord): Promise<NodeTunnelState | undefined>;
}

const RUNNER = fileURLToPath(new URL('../overlay/node-runner.js', import.meta.url));

/**
 * The plain overlay runner: system-ids are made here (the runner has no enrollment), configs are
 * the full mesh from the plan, and status comes from the runner's SIGUSR1 status line in its log.
 */
export class OverlayRunnerDriver implements NodeDaemonDriver {
  readonly kind = 'overlay-runner' as const;
  private readonly ids: Record<string, string>;
  private files: Record<string, string> | undefined;

  constructor(private readonly plan: TopologyPlan, private readonly stateDir: string, private readonly logDir: string, systemIds: Record<string, string> = {}) {
    this.ids = { ...systemIds };
    for (const n of plan.nodes) this.ids[n.name] ??= randomUUID();
  }

  async start(node: NodePlan): Promise<DaemonRecord> {
    this.files ??= await writeOverlayConfigs(this.plan, this.ids, path.join(this.stateDir, 'nodes'));
    const log = path.join(this.logDir, `${node.name}.log`);
    const d = await spawnDaemon(node.netns, [process.execPath, RUNNER, '--config', this.files[node.name]!], log);
    await waitForDaemon(d, `overlay runner on ${node.name}`, async () => (await logEvents(log)).some((e) => e.event === 'ready'), 20_000);
    return { role: 'overlay-runner', node: node.name, ...d };
  }

  async ready(): Promise<void> {
    // start() already waited for the runner's "ready" line.
  }

  async systemId(node: NodePlan): Promise<string> {
    return this.ids[node.name]!;
  }

  async tunnels(node: NodePlan, daemon: DaemonRecord): Promise<NodeTunnelState | undefined> {
    if (!isAlive(daemon.pid)) return undefined;
    const before = (await logEvents(daemon.log)).filter((e) => e.event === 'status').length;
    process.kill(daemon.pid, 'SIGUSR1');
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline) {
      const statuses = (await logEvents(daemon.log)).filter((e) => e.event === 'status');
      if (statuses.length > before) {
        const s = statuses[statuses.length - 1] as { tunnels?: unknown[] };
        const n = Array.isArray(s.tunnels) ? s.tunnels.length : 0;
        return { node: node.name, tunnels: n, established: n, childSas: 0, ikeSas: 0 };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return undefined;
  }
}
