import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from '../helpers/paths.js';
import { waitFor } from '../helpers/netns.js';
import { planTopology, addNodeToPlan, removeNodeFromPlan, type TopologyPlan } from '../../src/cluster/topology.js';
import { buildTopology, buildNode, removeNode, teardownTopology, listNamespaces, namespacePids } from '../../src/cluster/topology-netns.js';
import { nodeOverlayConfig } from '../../src/cluster/topology-overlay.js';
import { tunnelName } from '../../src/overlay/tunnel-name.js';

// A second run after a crash cleans up first; a node joins and leaves a running overlay
// (peers reloaded on SIGHUP). Prefix `oit-cl2` so it can run beside cluster-overlay's `oit-cl`.

const PREFIX = 'oit-cl2';
const runnerJs = path.join(repoRoot, 'dist', 'src', 'overlay', 'node-runner.js');

interface Runner { node: string; proc: ChildProcess; lines: Array<Record<string, unknown>> }

function startRunner(netns: string, node: string, file: string, detached = false): Runner {
  const proc = spawn('ip', ['netns', 'exec', netns, process.execPath, runnerJs, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], detached });
  const r: Runner = { node, proc, lines: [] };
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      try { r.lines.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>); } catch { /* ignore */ }
      buf = buf.slice(i + 1);
    }
  });
  proc.stderr!.on('data', (d: Buffer) => process.stderr.write(`[${node}] ${d.toString()}`));
  return r;
}

async function ready(r: Runner): Promise<void> {
  await waitFor(() => r.lines.some((l) => l.event === 'ready') || r.proc.exitCode !== null, `${r.node} ready`, 15_000);
  assert.ok(r.lines.some((l) => l.event === 'ready'), `${r.node} failed to start`);
}

async function nextEvent(r: Runner, event: string, signal?: NodeJS.Signals): Promise<Record<string, unknown>> {
  const from = r.lines.length;
  if (signal) r.proc.kill(signal);
  await waitFor(() => r.lines.slice(from).some((l) => l.event === event), `${r.node} ${event}`, 10_000);
  return r.lines.slice(from).find((l) => l.event === event)!;
}

function writeConfigs(plan: TopologyPlan, ids: Record<string, string>, dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const n of plan.nodes) {
    files[n.name] = path.join(dir, `${n.name}.json`);
    writeFileSync(files[n.name]!, JSON.stringify(nodeOverlayConfig(plan, n, ids)));
  }
  return files;
}

const ping = (ns: string, ip: string) => spawnSync('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '2', ip], { encoding: 'utf8' });
const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

test('a new run removes a crashed run\'s namespaces and processes; nodes join and leave a running overlay', { timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'oit-cl2-'));
  const runners: Runner[] = [];
  t.after(async () => {
    await teardownTopology(PREFIX);
    rmSync(dir, { recursive: true, force: true });
  });
  const plan = planTopology({ prefix: PREFIX, masters: 1, workers: 1, podsPerNode: 1 });
  const ids: Record<string, string> = Object.fromEntries(plan.nodes.map((n) => [n.name, randomUUID()]));

  // --- a "crashed" run: namespaces, a runner and a stray process left behind, not tracked by us.
  await buildTopology(plan);
  let files = writeConfigs(plan, ids, dir);
  const orphan = startRunner(plan.nodes[0]!.netns, 'orphan', files.master0!, true);
  await ready(orphan);
  const sleeper = spawn('ip', ['netns', 'exec', plan.nodes[1]!.pods[0]!.netns, 'sleep', '300'], { stdio: 'ignore', detached: true });
  sleeper.unref();
  await waitFor(async () => (await namespacePids(plan.nodes[1]!.pods[0]!.netns)).length > 0, 'sleeper inside the pod namespace');
  const leftover = [
    ...(await namespacePids(plan.nodes[0]!.netns)),
    ...(await namespacePids(plan.nodes[1]!.pods[0]!.netns)),
  ];
  assert.ok(leftover.length >= 2);

  // --- the next run: building cleans first.
  await buildTopology(plan);
  for (const pid of leftover) assert.equal(alive(pid), false, `leftover process ${pid} ended`);
  assert.ok(orphan.lines.some((l) => l.event === 'stopped'), 'the orphaned runner was asked to stop (SIGTERM) and closed its TUN');
  for (const n of plan.nodes) assert.deepEqual(await namespacePids(n.netns), [], 'fresh namespaces hold no processes');
  assert.equal((await listNamespaces(PREFIX)).length, 5);

  // --- a running two-node overlay.
  files = writeConfigs(plan, ids, dir);
  for (const n of plan.nodes) runners.push(startRunner(n.netns, n.name, files[n.name]!));
  for (const r of runners) await ready(r);
  const m0pod = plan.nodes[0]!.pods[0]!;
  assert.equal(ping(plan.nodes[1]!.pods[0]!.netns, m0pod.ip).status, 0);

  // --- worker1 joins: its namespaces are built, everyone reloads peers, it reaches master0's pod.
  const w1 = addNodeToPlan(plan, { name: 'worker1', role: 'worker', pods: 1 });
  ids.worker1 = randomUUID();
  await buildNode(plan, w1);
  files = writeConfigs(plan, ids, dir);
  const w1r = startRunner(w1.netns, 'worker1', files.worker1!);
  runners.push(w1r);
  await ready(w1r);
  for (const r of runners.slice(0, 2)) assert.equal((await nextEvent(r, 'reloaded', 'SIGHUP')).peers, 2);
  const p = ping(w1.pods[0]!.netns, m0pod.ip);
  assert.equal(p.status, 0, p.stdout + p.stderr);
  const st = await nextEvent(runners[0]!, 'status', 'SIGUSR1') as unknown as { tunnels: Array<{ name: string; packets_in: number }> };
  assert.ok(st.tunnels.find((x) => x.name === tunnelName(ids.worker1!))!.packets_in >= 1);

  // --- worker1 leaves: its processes and namespaces go, the others drop it from their peers.
  const w1pid = w1r.proc.pid!;
  await removeNode(plan, w1);
  removeNodeFromPlan(plan, 'worker1');
  assert.equal(alive(w1pid), false);
  assert.deepEqual((await listNamespaces(PREFIX)).filter((ns) => ns.includes('worker1')), []);
  files = writeConfigs(plan, ids, dir);
  for (const r of runners.slice(0, 2)) assert.equal((await nextEvent(r, 'reloaded', 'SIGHUP')).peers, 1);
  assert.notEqual(ping(m0pod.netns, w1.pods[0]!.ip).status, 0);
  const after = await nextEvent(runners[0]!, 'status', 'SIGUSR1') as unknown as { tunnels: Array<{ name: string }>; drops: { outbound: { no_route: number } } };
  assert.deepEqual(after.tunnels.map((x) => x.name), [tunnelName(ids.worker0!)]);
  assert.ok(after.drops.outbound.no_route >= 1, 'traffic to the departed node is dropped and counted');
  assert.equal(ping(plan.nodes[1]!.pods[0]!.netns, m0pod.ip).status, 0, 'the remaining pair still talks');

  // --- teardown: nothing left.
  await teardownTopology(PREFIX);
  assert.deepEqual(await listNamespaces(PREFIX), []);
  for (const r of runners) if (r.proc.exitCode === null && r.proc.signalCode === null) await once(r.proc, 'exit');
});
