import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { nodeDir } from '../store/layout.js';
import { controlRequest } from '../ipsecd/control-client.js';
import { run } from './run.js';
import type { NodePlan } from './topology.js';
import type { DaemonRecord } from './state.js';
import type { NodeDaemonDriver, NodeTunnelState } from './up-nodes.js';
import { logEvents, spawnDaemon, waitForDaemon } from './up-processes.js';

/**
 * The node agent (`overlay-ipsec agent --node NAME --state-dir DIR`) as `up`'s node daemon: it
 * registers, enrolls, opens the pod TUN and keeps Geneve + IKE/ESP to every other node. `up` starts
 * it inside the node's namespace and reads its state through the files and control socket it keeps
 * in its node directory.
 */

/** True when this build's CLI has the `agent` command. */
export async function agentAvailable(main: string): Promise<boolean> {
  const r = await run([process.execPath, main, 'agent', '--help'], { check: false, timeoutMs: 20_000 });
  return /--node/.test(r.stdout);
}

export class AgentDriver implements NodeDaemonDriver {
  readonly kind = 'agent' as const;

  constructor(private readonly main: string, private readonly stateDir: string, private readonly logDir: string) {}

  async start(node: NodePlan): Promise<DaemonRecord> {
    const log = path.join(this.logDir, `${node.name}.log`);
    const d = await spawnDaemon(node.netns, [process.execPath, this.main, 'agent', '--node', node.name, '--state-dir', this.stateDir], log);
    await waitForDaemon(d, `agent on ${node.name}`, async () => (await logEvents(log)).some((e) => e.event === 'ready' || e.msg === 'agent ready'), 60_000);
    return { role: 'agent', node: node.name, ...d };
  }

  async systemId(node: NodePlan): Promise<string> {
    return (await readFile(path.join(nodeDir(this.stateDir, node.name), 'system-id'), 'utf8')).trim();
  }

  /** The control socket the agent serves in its node directory. */
  async controlSocket(node: string): Promise<string | undefined> {
    const dir = nodeDir(this.stateDir, node);
    const names = await readdir(dir).catch(() => [] as string[]);
    const sock = names.find((n) => n.endsWith('.sock'));
    return sock ? path.join(dir, sock) : undefined;
  }

  async tunnels(node: NodePlan): Promise<NodeTunnelState | undefined> {
    const sock = await this.controlSocket(node.name);
    if (!sock) return undefined;
    try {
      const r = await controlRequest(sock, { cmd: 'tunnels/show' }, 3000);
      if (!r.ok) return undefined;
      const list = (r.tunnels ?? []) as Array<{ ipsec?: boolean; ike_state?: string; children?: unknown[] }>;
      return { node: node.name, tunnels: list.length, established: list.length, childSas: 0, ikeSas: 0 };
    } catch {
      return undefined;
    }
  }
}
