import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { waitFor } from '../helpers/netns.js';
import { planTopology, addNodeToPlan, removeNodeFromPlan } from '../../src/cluster/topology.js';
import { buildTopology, buildNode, removeNode, teardownTopology, listNamespaces, namespacePids } from '../../src/cluster/topology-netns.js';
import { startClusterOverlay, startOverlayProcess, writeOverlayConfigs, type OverlayProcess } from '../helpers/overlay-processes.js';
import { tunnelName } from '../../src/overlay/tunnel-name.js';
import { pidAlive } from '../../src/util/pid.js';

// A second run after a crash cleans up first; a node joins and leaves a running overlay
// (peers reloaded on SIGHUP). Prefix `oit-cl2` so it can run beside cluster-overlay's `oit-cl`.

const PREFIX = 'oit-cl2';
const ping = (ns: string, ip: string) => spawnSync('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '2', ip], { encoding: 'utf8' });

test('a new run removes a crashed run\'s namespaces and processes; nodes join and leave a running overlay', { timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'oit-cl2-'));
  let runners: OverlayProcess[] = [];
  t.after(async () => {
    await teardownTopology(PREFIX);
    rmSync(dir, { recursive: true, force: true });
  });
  const plan = planTopology({ prefix: PREFIX, masters: 1, workers: 1, podsPerNode: 1 });
  const ids: Record<string, string> = Object.fromEntries(plan.nodes.map((n) => [n.name, randomUUID()]));

  // --- a "crashed" run: namespaces, a runner and a stray process left behind, not tracked by us.
  await buildTopology(plan);
  const files = await writeOverlayConfigs(plan, ids, dir);
  const orphan = await startOverlayProcess(plan.nodes[0]!.netns, 'orphan', files.master0!);
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
  for (const pid of leftover) assert.equal(pidAlive(pid), false, `leftover process ${pid} ended`);
  assert.ok(orphan.events.some((l) => l.event === 'stopped'), 'the orphaned runner was asked to stop (SIGTERM) and closed its TUN');
  for (const n of plan.nodes) assert.deepEqual(await namespacePids(n.netns), [], 'fresh namespaces hold no processes');
  assert.equal((await listNamespaces(PREFIX)).length, 5);

  // --- a running two-node overlay.
  runners = await startClusterOverlay(plan, ids, dir);
  const m0pod = plan.nodes[0]!.pods[0]!;
  assert.equal(ping(plan.nodes[1]!.pods[0]!.netns, m0pod.ip).status, 0);

  // --- worker1 joins: its namespaces are built, everyone reloads peers, it reaches master0's pod.
  const w1 = addNodeToPlan(plan, { name: 'worker1', role: 'worker', pods: 1 });
  ids.worker1 = randomUUID();
  await buildNode(plan, w1);
  const files2 = await writeOverlayConfigs(plan, ids, dir);
  const w1r = await startOverlayProcess(w1.netns, 'worker1', files2.worker1!);
  runners.push(w1r);
  for (const r of runners.slice(0, 2)) assert.equal(await r.reload(), 2);
  const p = ping(w1.pods[0]!.netns, m0pod.ip);
  assert.equal(p.status, 0, p.stdout + p.stderr);
  const st = await runners[0]!.status();
  assert.ok(st.tunnels.find((x) => x.name === tunnelName(ids.worker1!))!.packets_in >= 1);

  // --- worker1 leaves: its processes and namespaces go, the others drop it from their peers.
  const w1pid = w1r.pid;
  await removeNode(plan, w1);
  removeNodeFromPlan(plan, 'worker1');
  assert.equal(pidAlive(w1pid), false);
  assert.deepEqual((await listNamespaces(PREFIX)).filter((ns) => ns.includes('worker1')), []);
  await writeOverlayConfigs(plan, ids, dir);
  for (const r of runners.slice(0, 2)) assert.equal(await r.reload(), 1);
  assert.notEqual(ping(m0pod.netns, w1.pods[0]!.ip).status, 0);
  const after = await runners[0]!.status();
  assert.deepEqual(after.tunnels.map((x) => x.name), [tunnelName(ids.worker0!)]);
  assert.ok(after.drops.outbound.no_route >= 1, 'traffic to the departed node is dropped and counted');
  assert.equal(ping(plan.nodes[1]!.pods[0]!.netns, m0pod.ip).status, 0, 'the remaining pair still talks');

  // --- teardown: nothing left.
  await teardownTopology(PREFIX);
  assert.deepEqual(await listNamespaces(PREFIX), []);
  assert.deepEqual(await teardownTopology(PREFIX), [], 'teardown is idempotent');
  for (const r of runners) if (r.running) await once(r.child, 'exit');
});
