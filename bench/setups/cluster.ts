import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cliPath } from '../../test/helpers/paths.js';
import { teardownTopology } from '../../src/cluster/topology-netns.js';
import type { ClusterState } from '../../src/cluster/state.js';
import { runTracked } from '../lib/exec.js';
import { BENCH_PREFIX, onInterrupt } from '../lib/lab.js';
import type { Setup } from '../lib/setup.js';

/**
 * The product as a user runs it: `overlay-ipsec up --detach` with two worker nodes and one pod
 * each (operator, one agent per node, underlay bridge), IPsec on (IKEv2, ESP transport mode
 * protecting Geneve, AES-256-GCM in UDP 4500) or off (`--no-ipsec`: plain Geneve); traffic goes
 * from the pod on worker0 to the pod on worker1. The agents are the
 * data path whose CPU is counted; `overlay-ipsec down` removes it all.
 */
export async function startCluster(ipsec: boolean): Promise<Setup> {
  const prefix = `${BENCH_PREFIX}-${ipsec ? 'ovs' : 'ov'}`;
  const stateDir = path.join(tmpdir(), `${prefix}-state`);
  const env = { OI_NETNS_PREFIX: prefix };
  const cli = (args: string[], timeoutMs: number) => runTracked(['env', `OI_NETNS_PREFIX=${env.OI_NETNS_PREFIX}`, process.execPath, cliPath, ...args], { timeoutMs });
  const teardown = async (): Promise<void> => {
    unregister();
    if (existsSync(path.join(stateDir, 'cluster.json'))) await cli(['down', '--state-dir', stateDir], 60_000);
    await teardownTopology(prefix);
    rmSync(stateDir, { recursive: true, force: true });
  };
  const unregister = onInterrupt(teardown);
  try {
    // A crashed earlier run's cluster goes first.
    if (existsSync(path.join(stateDir, 'cluster.json'))) await cli(['down', '--state-dir', stateDir], 60_000);
    await teardownTopology(prefix);
    rmSync(stateDir, { recursive: true, force: true });
    const up = await cli(['up', '--masters', '0', '--workers', '2', '--pods-per-node', '1', '--detach', '--state-dir', stateDir,
      ...(ipsec ? [] : ['--no-ipsec', '--verify-seconds', '0'])], 240_000);
    if (up.code !== 0) throw new Error(`overlay-ipsec up failed (${up.code}): ${(up.stderr || up.stdout).trim().split('\n').slice(-3).join(' | ')}`);
    const state = JSON.parse(readFileSync(path.join(stateDir, 'cluster.json'), 'utf8')) as ClusterState;
    const pods = state.plan.nodes.map((n) => n.pods[0]!);
    const [client, server] = [pods[0]!, pods[1]!];
    return {
      row: ipsec ? 'overlay_ipsec' : 'overlay_plain',
      describe: ipsec
        ? 'overlay-ipsec up (2 workers): pod → agent TUN → Geneve → ESP transport (IKEv2, AES-256-GCM) in UDP 4500 → agent → pod'
        : 'overlay-ipsec up --no-ipsec (2 workers): pod → node TUN → Geneve in UDP 6081 → node → pod',
      clientNs: client.netns, serverNs: server.netns, clientAddr: client.ip, serverAddr: server.ip,
      dataPathPids: state.daemons.filter((d) => d.role !== 'operator').map((d) => d.pid),
      teardown,
    };
  } catch (e) {
    await teardown();
    throw e;
  }
}
