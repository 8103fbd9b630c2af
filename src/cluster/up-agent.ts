import { readFile } from 'node:fs/promises';
import { OperationFailed } from '../util/errors.js';
import path from 'node:path';
import { nodeDir, storeDir } from '../store/layout.js';
import { FsStore } from '../store/fs-store.js';
import { loadOrCreateIdentity } from '../pki/node-identity.js';
import { registerNode } from '../pki/enroll.js';
import { controlRequest } from '../host/control-client.js';
import type { NodePlan } from './topology.js';
import type { DaemonRecord } from './state.js';
import type { ControlPlaneReport, DaemonStart, NodeDaemonDriver, NodeTunnelState, PeerProblem } from './up-nodes.js';
import { logEvents, spawnDaemon, waitForDaemon } from './up-processes.js';
import { readAgentStateFile } from './agent-state-file.js';

/**
 * The node agent (`overlay-ipsec agent --node NAME --state-dir DIR`) as `up`'s node daemon: it
 * registers, enrolls, opens the pod TUN and keeps Geneve + IKE/ESP to every other node. `up` starts
 * it inside the node's namespace and reads its state through the files and control socket it keeps
 * in its node directory.
 */

/** What the agent keeps in `<node dir>/agent.json` (agent/agent.ts AgentState), the part `up` reads. */
interface AgentStateFile {
  system_id?: string;
  phase?: string;
  /** The IPsec mode from the network config: Full, External or Disabled. */
  ipsec?: string;
  ipsec_phase?: string;
  subnet?: string;
  underlay?: string;
  peers?: number;
  tunnels?: number;
  established?: number;
  ike_sas?: number;
  child_sas?: number;
  ready?: boolean;
  waiting?: { node: string; reason: string }[];
  control_plane?: ControlPlaneReport;
}

/** Agent phases from registration on (agent/agent.ts AgentPhase). */
const REGISTERED = new Set(['enrolling', 'waiting-subnet', 'running']);

export const AGENT_SOCKET_NAME = 'agent.sock';

/**
 * With etcd (`up --store etcd`), each agent runs on a state directory of its own with its join
 * file as its store, like an agent on its own machine.
 */
export interface AgentHosts {
  /** The node's own state directory and the join file in it. */
  host(node: string): { stateDir: string; joinFile: string };
}

export class AgentDriver implements NodeDaemonDriver {
  readonly kind = 'agent' as const;
  /**
   * With etcd, agents register themselves (up holds no node's credentials), so they start one at
   * a time, in plan order: the operator hands out subnets in order of registration.
   */
  readonly startConcurrency: number | undefined;

  constructor(
    private readonly main: string,
    private readonly stateDir: string,
    private readonly logDir: string,
    /** Give each agent a key-log directory under its node directory (`up --keylog`). */
    private readonly keylog = false,
    private readonly hosts?: AgentHosts,
  ) {
    this.startConcurrency = hosts ? 1 : undefined;
    if (hosts) this.prepare = undefined;
  }

  private async agentState(node: string): Promise<AgentStateFile | undefined> {
    return readAgentStateFile(this.stateDir, node);
  }

  /**
   * Registers every planned node in the plan's order before any agent starts, as a provisioner
   * would: the node's system-id is made (the agent finds and keeps it) and its record written with
   * registration times one millisecond apart. The operator hands out subnets lowest first in order
   * of registration, so each node gets the subnet its pods were addressed from, and the agents can
   * then start all at once: each finds itself registered and goes on to enroll.
   */
  prepare: ((nodes: readonly NodePlan[]) => Promise<void>) | undefined = async (nodes) => {
    const store = await FsStore.open(storeDir(this.stateDir));
    try {
      const t0 = Date.now();
      for (const [i, n] of nodes.entries()) {
        const id = await loadOrCreateIdentity(this.stateDir, n.name);
        // Without the underlay address: peers take a node up once its own agent registers that,
        // so nobody starts IKE towards an agent that does not run yet.
        await registerNode(store, id, () => t0 + i);
      }
    } finally {
      await store.close();
    }
  };

  /** Starts the agent and waits until it has registered its node. */
  async start(node: NodePlan, o: DaemonStart): Promise<DaemonRecord> {
    const log = path.join(this.logDir, `${node.name}.log`);
    const own = this.hosts?.host(node.name);
    const d = await spawnDaemon(node.netns, [
      process.execPath, this.main, 'agent', '--node', node.name,
      ...(own ? ['--state-dir', own.stateDir, '--store-config', own.joinFile] : ['--state-dir', this.stateDir]),
      '--underlay-ip', node.underlayIp, '--tun', node.tunName, '--log', log,
      ...(this.keylog ? ['--keylog', path.join(nodeDir(this.stateDir, node.name), 'keylog')] : []),
    ], path.join(this.logDir, `${node.name}.out`), process.env, o.nice);
    await waitForDaemon(d, `agent on ${node.name}`, async () => REGISTERED.has((await this.agentState(node.name))?.phase ?? ''), o.timeoutMs, o.intervalMs);
    return { role: 'agent', node: node.name, ...d };
  }

  /**
   * Waits until the agent's data path runs with a subnet. A subnet other than the planned one (a
   * store that outlived its cluster) is an error: the pods were addressed from the plan.
   */
  async ready(node: NodePlan, d: DaemonRecord, timeoutMs: number, intervalMs: number, onPhase?: (phase: string) => void): Promise<void> {
    let st: AgentStateFile | undefined;
    await waitForDaemon(d, `agent on ${node.name}`, async () => {
      st = await this.agentState(node.name);
      if (st?.phase) onPhase?.(st.phase);
      return st?.phase === 'running' && !!st.subnet;
    }, timeoutMs, intervalMs);
    if (st!.subnet !== node.subnet) {
      throw new OperationFailed(`agent on ${node.name} was given subnet ${st!.subnet} by the operator, but its pods were addressed from ${node.subnet}; run \`overlay-ipsec down\` and try again`);
    }
  }

  /**
   * Which peers this node has no working tunnel to, and why, as the agent sees it: not running
   * yet, a peer it is still waiting for (no subnet, no underlay address), no tunnel, or the IKE
   * state of a tunnel that is not established.
   */
  async missingPeers(node: NodePlan, peers: readonly NodePlan[]): Promise<PeerProblem[]> {
    const st = await this.agentState(node.name);
    if (st?.phase !== 'running') return peers.map((p) => ({ peer: p.name, reason: `agent ${st?.phase ?? 'has written no state'}` }));
    const waiting = new Map((st.waiting ?? []).map((w) => [w.node, w.reason]));
    let shown: Array<{ node?: string; established?: boolean; ike_state?: string | null }> | undefined;
    try {
      const r = await controlRequest(path.join(nodeDir(this.stateDir, node.name), AGENT_SOCKET_NAME), { cmd: 'tunnels/show' }, 5000);
      if (r.ok) shown = r.tunnels as typeof shown;
    } catch { /* reported below as not answering */ }
    if (!shown) return peers.map((p) => ({ peer: p.name, reason: 'agent does not answer on its control socket' }));
    const byPeer = new Map(shown.map((t) => [t.node, t]));
    const out: PeerProblem[] = [];
    for (const p of peers) {
      const t = byPeer.get(p.name);
      if (t?.established || (t && st.ipsec !== 'Full')) continue;
      const reason = waiting.get(p.name) ?? (t ? `IKE ${t.ike_state ?? 'not started'}` : 'no tunnel yet');
      out.push({ peer: p.name, reason });
    }
    return out;
  }

  async systemId(node: NodePlan): Promise<string> {
    const st = await this.agentState(node.name);
    if (st?.system_id) return st.system_id;
    return (await readFile(path.join(nodeDir(this.stateDir, node.name), 'system-id'), 'utf8')).trim();
  }

  async tunnels(node: NodePlan): Promise<NodeTunnelState | undefined> {
    const sock = path.join(nodeDir(this.stateDir, node.name), AGENT_SOCKET_NAME);
    try {
      // `agent/state` carries the SA counts too: asking every agent for its whole status at every
      // poll (every SA formatted as text and JSON, ~200 kB at 100 nodes) took agents' CPU from the
      // mesh they were building.
      const r = await controlRequest(sock, { cmd: 'agent/state' }, 3000);
      if (!r.ok) return undefined;
      const st = r.state as AgentStateFile;
      const tunnels = st.tunnels ?? 0;
      // Without IPsec a tunnel is up as soon as it exists: Geneve has no handshake.
      return {
        node: node.name, tunnels, established: st.ipsec === 'Full' ? (st.established ?? 0) : tunnels, childSas: st.child_sas ?? 0, ikeSas: st.ike_sas ?? 0,
        ...(st.ipsec_phase ? { mode: st.ipsec_phase } : {}), ...(st.control_plane ? { controlPlane: st.control_plane } : {}),
      };
    } catch {
      return undefined;
    }
  }

}
