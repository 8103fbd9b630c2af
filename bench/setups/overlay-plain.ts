import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from '../../test/helpers/netns.js';
import { repoRoot } from '../../test/helpers/paths.js';
import { ownedTempDir } from '../../test/helpers/harness-util.js';
import { planTopology } from '../../src/cluster/topology.js';
import { buildTopology, teardownTopology } from '../../src/cluster/topology-netns.js';
import { nodeOverlayConfig } from '../../src/cluster/topology-overlay.js';
import { BENCH_PREFIX, onInterrupt } from '../lib/lab.js';
import type { Setup } from '../lib/setup.js';

const PREFIX = `${BENCH_PREFIX}-ov`;
const runnerJs = path.join(repoRoot, 'dist', 'src', 'overlay', 'node-runner.js');

/**
 * Our overlay with IPsec off: the local cluster's shape (underlay bridge, node namespaces, pods on
 * a pod bridge) with two worker nodes and one pod each, one overlay runner per node carrying pod
 * traffic as cleartext Geneve over UDP 6081. Traffic goes pod on node 1 → pod on node 2.
 */
export async function startOverlayPlain(): Promise<Setup> {
  const plan = planTopology({ prefix: PREFIX, masters: 0, workers: 2, podsPerNode: 1 });
  const dir = ownedTempDir(PREFIX);
  const runners: ChildProcess[] = [];
  const teardown = async (): Promise<void> => {
    unregister();
    for (const r of runners) {
      if (r.exitCode === null && r.signalCode === null) {
        const exited = once(r, 'exit');
        r.kill('SIGTERM');
        const t = setTimeout(() => r.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
    }
    await teardownTopology(PREFIX);
    rmSync(dir, { recursive: true, force: true });
  };
  const unregister = onInterrupt(teardown);
  try {
    await teardownTopology(PREFIX); // a crashed earlier run's leftovers
    await buildTopology(plan);
    const ids = Object.fromEntries(plan.nodes.map((n) => [n.name, randomUUID()]));
    for (const node of plan.nodes) {
      const file = path.join(dir, `${node.name}.json`);
      writeFileSync(file, JSON.stringify(nodeOverlayConfig(plan, node, ids)));
      const proc = spawn('ip', ['netns', 'exec', node.netns, process.execPath, runnerJs, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
      runners.push(proc);
      let out = '';
      let err = '';
      proc.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
      proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
      await waitFor(() => {
        if (proc.exitCode !== null) throw new Error(`overlay runner ${node.name} exited (${proc.exitCode}): ${err}`);
        return out.includes('"event":"ready"');
      }, `overlay runner ${node.name} ready`, 20_000);
    }
    const [n1, n2] = plan.nodes;
    const client = n1!.pods[0]!;
    const server = n2!.pods[0]!;
    return {
      row: 'overlay_plain', describe: 'overlay-ipsec node overlay, IPsec off: pod → node TUN → Geneve/UDP 6081 → node → pod',
      clientNs: client.netns, serverNs: server.netns, clientAddr: client.ip, serverAddr: server.ip,
      dataPathPids: runners.map((r) => r.pid!),
      teardown,
    };
  } catch (e) {
    await teardown();
    throw e;
  }
}
