import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { setNice } from '../../src/cluster/up-processes.js';
import { convergenceTimeoutS, formatMissing, pollIntervalMs, tunnelProgress, waitForMesh } from '../../src/cluster/up-converge.js';
import { readyTimeoutMs, REGISTER_POLL_MS, RUNNING_NICE, startConcurrency, startNodeDaemons, startPollMs, STARTING_NICE } from '../../src/cluster/up-start.js';
import { checkClusterSize } from '../../src/cluster/up-config.js';
import { planTopology, type NodePlan } from '../../src/cluster/topology.js';
import type { NodeDaemonDriver, NodeTunnelState } from '../../src/cluster/up-nodes.js';
import type { DaemonRecord } from '../../src/cluster/state.js';
import type { Progress } from '../../src/cluster/up-progress.js';
import type { NetworkConfig } from '../../src/config/index.js';
import { forEachLimited } from '../../src/util/limited.js';
import { UsageError } from '../../src/util/errors.js';
import { cliPath } from '../helpers/paths.js';

/** `up` at large sizes: limits, parallel start, the wait for the mesh and the failure summary. */

function recorder(): Progress & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    phase: (n) => lines.push(`phase ${n}`),
    update: (d) => lines.push(`update ${d}`),
    done: (d) => lines.push(`done ${d ?? ''}`),
    fail: (d) => lines.push(`fail ${d}`),
    note: (t) => lines.push(`note ${t}`),
  };
}

const network = (cidr: string, hostPrefix: number): NetworkConfig => ({
  clusterNetwork: [{ cidr, hostPrefix }], serviceNetwork: [], machineNetwork: [], mtu: 1400, genevePort: 6081,
  ipsec: { mode: 'Full', encapsulation: 'Always' }, sources: [],
} as unknown as NetworkConfig);

test('forEachLimited: never more than the limit in flight, every item once, the first failure after the rest settle', async () => {
  let inFlight = 0;
  let most = 0;
  const seen: number[] = [];
  await forEachLimited(Array.from({ length: 20 }, (_, i) => i), 3, async (x) => {
    inFlight++;
    most = Math.max(most, inFlight);
    await new Promise((r) => setTimeout(r, 1 + (x % 4)));
    seen.push(x);
    inFlight--;
  });
  assert.equal(most, 3);
  assert.deepEqual([...seen].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
  const started: number[] = [];
  await assert.rejects(forEachLimited([0, 1, 2, 3, 4, 5], 2, async (x) => {
    started.push(x);
    await new Promise((r) => setTimeout(r, 5));
    if (x === 1) throw new Error('item 1 failed');
  }), /item 1 failed/);
  assert.ok(started.length < 6, `no new item after the failure: ${started.join(',')}`);
  await assert.rejects(forEachLimited([1], 0, async () => {}), RangeError);
});

test('waits and poll periods grow with the cluster', () => {
  assert.equal(convergenceTimeoutS(5), 90);
  assert.equal(convergenceTimeoutS(20), 90);
  assert.equal(convergenceTimeoutS(50), 150);
  assert.equal(convergenceTimeoutS(100), 300);
  assert.equal(pollIntervalMs(5), 500);
  assert.equal(pollIntervalMs(50), 1250);
  assert.equal(pollIntervalMs(200), 3000);
  assert.equal(readyTimeoutMs(100), 160_000);
  assert.equal(startPollMs(5), 150);
  assert.equal(startPollMs(100), 1000);
  assert.equal(startConcurrency(1), 2);
  assert.equal(startConcurrency(2), 4);
  assert.equal(startConcurrency(64), 8);
});

test('the cluster must fit the config: a subnet and an underlay address per node, named in the error', () => {
  const files = ['/somewhere/install-config.yaml'];
  checkClusterSize(203, network('10.254.0.0/16', 24), files, '192.168.7.0/24');
  assert.throws(() => checkClusterSize(130, network('10.254.0.0/16', 23), files, '192.168.7.0/24'),
    (e: unknown) => e instanceof UsageError && /130 nodes need 130 node subnets, but clusterNetwork 10\.254\.0\.0\/16 with hostPrefix 23 holds 128 \(from install-config\.yaml\)/.test((e as Error).message));
  assert.throws(() => checkClusterSize(255, network('10.0.0.0/8', 24), files, '192.168.7.0/24'), /255 nodes need 255 underlay addresses, but the local underlay 192\.168\.7\.0\/24 holds 254/);
});

test('up --workers: up to 200; more is refused naming the range', () => {
  const r = spawnSync(process.execPath, [cliPath, 'up', '--workers', '201'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--workers: "201" is not a whole number in 0\.\.200/);
  // 197 + 3 nodes plan: distinct addresses and subnets inside the seed's networks.
  const plan = planTopology({ masters: 3, workers: 197, podsPerNode: 1 });
  assert.equal(new Set(plan.nodes.map((n) => n.underlayIp)).size, 200);
  assert.equal(new Set(plan.nodes.map((n) => n.subnet)).size, 200);
});

test('the progress line says how far the mesh got and which nodes lag most', () => {
  const t = (node: string, established: number): NodeTunnelState => ({ node, tunnels: 4, established, childSas: established * 2, ikeSas: established });
  assert.equal(tunnelProgress([t('a', 4), t('b', 1), t('c', 0), t('d', 2), t('e', 3)], 4, true),
    '10/20 tunnel ends up, 20 child SAs; behind: c 0/4, b 1/4, d 2/4 and 1 more');
  assert.equal(tunnelProgress([t('a', 1), t('b', 1)], 1, false), '2/2 tunnel ends up');
});

test('a failed mesh: the missing pairs and why are shown before the error, grouped by reason', async () => {
  const plan = planTopology({ masters: 0, workers: 4, podsPerNode: 1 });
  const asked: string[] = [];
  const driver: NodeDaemonDriver = {
    kind: 'agent',
    start: async () => { throw new Error('not used'); },
    ready: async () => {},
    systemId: async () => '',
    tunnels: async (n: NodePlan) => ({ node: n.name, tunnels: 3, established: n.name === 'worker3' ? 1 : 3, childSas: 0, ikeSas: 0 }),
    missingPeers: async (n: NodePlan, peers: readonly NodePlan[]) => {
      asked.push(`${n.name}:${peers.map((p) => p.name).join(',')}`);
      return [{ peer: 'worker0', reason: 'IKE STATE_V2_PARENT_I1' }, { peer: 'worker1', reason: 'no subnet allocated yet' }];
    },
  };
  const records = new Map(plan.nodes.map((n) => [n.name, { role: 'agent', node: n.name, pid: 1, netns: n.netns, log: '/x.log' } as DaemonRecord]));
  const progress = recorder();
  await assert.rejects(waitForMesh(plan.nodes, driver, records, { ipsec: true, timeoutS: 0, logs: '/logs' }, progress),
    /tunnels did not come up within 0 s \(worker3 1\/3\); the missing pairs and why are listed above; the logs are in \/logs/);
  assert.deepEqual(asked, ['worker3:worker0,worker1,worker2'], 'only the late node is asked, about every other node');
  assert.deepEqual(progress.lines.slice(-4), [
    'fail not all up after 0 s: 1 of 4 nodes lack tunnels',
    'note missing tunnels (node → peer), by reason:',
    'note   IKE STATE_V2_PARENT_I1: 1 (worker3 → worker0)',
    'note   no subnet allocated yet: 1 (worker3 → worker1)',
  ]);
  const many = Array.from({ length: 9 }, (_, i) => ({ node: `w${i}`, peer: 'x', reason: 'r' }));
  assert.deepEqual(formatMissing(many, 2), ['missing tunnels (node → peer), by reason:', '  r: 9 (w0 → x, w1 → x, …)']);
});

test('node daemons start side by side (bounded) at a raised priority, are recorded one at a time, each back to normal once it runs', async () => {
  const plan = planTopology({ masters: 0, workers: 12, podsPerNode: 0 });
  let inFlight = 0;
  let most = 0;
  let prepared: string[] = [];
  let recordingNow = 0;
  const recorded: string[] = [];
  const nice = new Map<number, number>();
  const phasesSeen: string[] = [];
  const pidOf = (n: NodePlan): number => 1000 + plan.nodes.indexOf(n);
  const driver: NodeDaemonDriver = {
    kind: 'agent',
    prepare: async (nodes) => { prepared = nodes.map((n) => n.name); },
    start: async (n: NodePlan, o) => {
      assert.equal(prepared.length, 12, 'prepared before the first start');
      assert.equal(o.nice, STARTING_NICE);
      assert.equal(o.timeoutMs, readyTimeoutMs(12));
      assert.equal(o.intervalMs, REGISTER_POLL_MS);
      nice.set(pidOf(n), o.nice!);
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      return { role: 'agent', node: n.name, pid: pidOf(n), netns: n.netns, log: '/x.log' };
    },
    ready: async (n, d, timeoutMs, intervalMs, onPhase) => {
      assert.equal(nice.get(d.pid), STARTING_NICE, 'still raised while it starts');
      assert.deepEqual([timeoutMs, intervalMs], [readyTimeoutMs(12), startPollMs(12)]);
      onPhase?.('enrolling');
      // The first node's data path runs while later ones are still being started.
      await new Promise((r) => setTimeout(r, n.name === 'worker0' ? 1 : 40));
      phasesSeen.push(n.name);
    },
    systemId: async () => '',
    tunnels: async () => undefined,
  };
  const progress = recorder();
  const records = await startNodeDaemons(plan.nodes, driver, progress, async (d) => {
    recordingNow++;
    assert.equal(recordingNow, 1, 'one record at a time');
    await new Promise((r) => setTimeout(r, 1));
    recorded.push(d.node!);
    recordingNow--;
  }, { setNice: (pid, n) => { nice.set(pid, n); return true; } });
  assert.equal(records.size, 12);
  assert.deepEqual([...recorded].sort(), plan.nodes.map((n) => n.name).sort());
  assert.ok(most > 1 && most <= startConcurrency(), `in flight at most: ${most}`);
  assert.deepEqual([...nice.values()], plan.nodes.map(() => RUNNING_NICE), 'every daemon back to the normal priority');
  const firstRunning = progress.lines.findIndex((l) => l.startsWith('update 1/12 running'));
  const lastStarted = progress.lines.findIndex((l) => / 12 started/.test(l));
  assert.ok(firstRunning >= 0 && firstRunning < lastStarted, 'a daemon is seen running before the last one has started');
  assert.ok(progress.lines.some((l) => /; \d+ enrolling/.test(l)), 'the phases of those on their way are shown');
});

test('a daemon that fails to come up stops further starts and fails the start', async () => {
  const plan = planTopology({ masters: 0, workers: 30, podsPerNode: 0 });
  const started: string[] = [];
  const driver: NodeDaemonDriver = {
    kind: 'agent',
    startConcurrency: 2,
    start: async (n: NodePlan) => {
      started.push(n.name);
      await new Promise((r) => setTimeout(r, 5));
      return { role: 'agent', node: n.name, pid: 1, netns: n.netns, log: '/x.log' };
    },
    ready: async (n) => {
      if (n.name === 'worker1') throw new Error('agent on worker1: the process (pid 1) exited');
      await new Promise((r) => setTimeout(r, 5));
    },
    systemId: async () => '',
    tunnels: async () => undefined,
  };
  await assert.rejects(startNodeDaemons(plan.nodes, driver, recorder(), async () => {}, { setNice: () => true }), /worker1: the process \(pid 1\) exited/);
  assert.ok(started.length < 30, `no start after the failure was seen: ${started.length} started`);
});

test('setNice: the process and, with autogroup scheduling, its session\'s group (a detached daemon is alone in it)', async () => {
  const child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
  await new Promise((r) => child.once('spawn', r));
  const pid = child.pid!;
  try {
    assert.equal(setNice(pid, 7), true);
    assert.equal(getPriority(pid), 7);
    const group = `/proc/${pid}/autogroup`;
    if (existsSync(group)) assert.match(readFileSync(group, 'utf8'), /nice 7$/m, 'the autogroup weighs against the other sessions');
    assert.equal(setNice(2 ** 22 + 12345, 0), false, 'a process that is not there');
  } finally {
    process.kill(pid, 'SIGKILL');
  }
});
