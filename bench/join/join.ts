import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from '../../test/helpers/paths.js';
import { openStore, type StoreSpec } from '../../src/store/open-store.js';
import { storeDir } from '../../src/store/layout.js';
import type { Store } from '../../src/store/store.js';
import { registerNode, submitCsr } from '../../src/pki/enroll.js';
import { forEachLimited } from '../../src/util/limited.js';
import { BENCH_PREFIX, onInterrupt } from '../lib/lab.js';
import { OperatorProcess } from './operator-process.js';
import { issueNodeIdentities, startBenchEtcd, type BenchEtcd } from './etcd-control-plane.js';
import type { SimNode } from './sim-nodes.js';

/**
 * N simulated nodes join one control plane: each opens the store as itself, registers its node
 * record and submits its CSR (src/pki/enroll.ts, as the agent does); `overlay-ipsec operator`,
 * a process of its own, signs; one watching agent sees every signed certificate appear
 * (certificates/<node> carrying the node's request id). The clock runs from the first
 * registration to the last certificate seen. What a real node does before it joins (its key,
 * its etcd identity from the administrator) is done before the clock starts and timed apart.
 */

export type JoinStore = 'etcd' | 'fs';

export interface JoinFigures {
  store: JoinStore;
  nodes: number;
  /** Registrations in flight at once (nodes booting together). */
  in_flight: number;
  /** First registration to the last certificate seen by the watcher. */
  seconds: number;
  /** CPU seconds of the operator process over those seconds. */
  operator_cpu_s: number;
  /** CPU seconds of the etcd member (null for the directory store). */
  etcd_cpu_s: number | null;
  /** CPU seconds of the benchmark process: the simulated nodes and the watcher. */
  nodes_cpu_s: number;
  /** CSR submitted → certificate seen, per node. */
  latency_ms: { median: number; p95: number; max: number };
  /** Untimed setup: every node's etcd user, role and client certificate (null for the directory store). */
  identities_s: number | null;
}

export interface JoinOptions {
  inFlight: number;
  timeoutMs: number;
  log: (m: string) => void;
}

/** The network config: a cluster network with a /24 for each of up to 2048 nodes. */
async function writeConfig(dir: string): Promise<string[]> {
  const install = (await readFile(path.join(repoRoot, 'examples', 'install-config.yaml'), 'utf8')).replace(/cidr: 10\.254\.0\.0\/16/, 'cidr: 10.128.0.0/13');
  if (!install.includes('10.128.0.0/13')) throw new Error('examples/install-config.yaml no longer has the cluster network this benchmark widens');
  const file = path.join(dir, 'install-config.yaml');
  await writeFile(file, install);
  return [file, path.join(repoRoot, 'examples', 'manifests', 'cluster-network-03-config.yml')];
}

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

export async function runJoin(kind: JoinStore, nodes: readonly SimNode[], o: JoinOptions): Promise<JoinFigures> {
  const dir = await mkdtemp(path.join(tmpdir(), `${BENCH_PREFIX}-join-${kind}-`));
  let etcd: BenchEtcd | undefined;
  let op: OperatorProcess | undefined;
  let watcher: Store | undefined;
  const cleanup = async (): Promise<void> => {
    await watcher?.close().catch(() => {});
    await op?.stop();
    await etcd?.close();
    await rm(dir, { recursive: true, force: true });
  };
  const unregister = onInterrupt(cleanup);
  try {
    const stateDir = path.join(dir, 'operator');
    const opArgs = ['--state-dir', stateDir, '--config', ...(await writeConfig(dir)), '--underlay-mtu', '1546'];
    let specs: Map<string, StoreSpec>;
    let identitiesS: number | null = null;
    let watcherSpec: StoreSpec;
    if (kind === 'etcd') {
      etcd = await startBenchEtcd(dir);
      o.log(`  etcd ${etcd.etcd.endpoints.join(',')} (pid ${etcd.pid}), auth on`);
      const t = performance.now();
      specs = await issueNodeIdentities(etcd, [...nodes.map((n) => n.name), 'watcher'], 8);
      identitiesS = (performance.now() - t) / 1000;
      o.log(`  ${nodes.length + 1} etcd users, roles and client certificates in ${identitiesS.toFixed(1)} s`);
      watcherSpec = specs.get('watcher')!;
      opArgs.push('--store-config', etcd.operatorCredentials);
    } else {
      const fs: StoreSpec = { kind: 'fs', dir: storeDir(stateDir) };
      specs = new Map(nodes.map((n) => [n.name, fs]));
      watcherSpec = fs;
    }
    op = OperatorProcess.start(opArgs, path.join(dir, 'operator.log'));
    watcher = await openStore(watcherSpec);
    await op.waitReady(watcher);
    o.log(`  operator ready (pid ${op.pid})`);

    // What the watcher has seen (node → request id, time) and what each node asked for.
    const seen = new Map<string, { requestId: string; at: number }>();
    const asked = new Map<string, { requestId: string; at: number }>();
    const latencies: number[] = [];
    let finish: () => void = () => {};
    const allSeen = new Promise<void>((r) => (finish = r));
    const settle = (node: string): void => {
      const a = asked.get(node);
      const s = seen.get(node);
      if (!a || !s || a.requestId !== s.requestId) return;
      latencies.push(s.at - a.at);
      if (latencies.length === nodes.length) finish();
    };
    const stopWatch = watcher.watch('certificates', (ev) => {
      if (ev.type !== 'put' || !ev.value || seen.get(ev.key)?.requestId === ev.value.request_id) return;
      seen.set(ev.key, { requestId: ev.value.request_id, at: performance.now() });
      settle(ev.key);
    }, { onError: (err) => o.log(`  watcher: ${err.message}`) });

    const cpu0 = { op: op.cpu(), etcd: etcd?.cpu() ?? null, self: process.cpuUsage() };
    const t0 = performance.now();
    await forEachLimited(nodes, o.inFlight, async (n) => {
      const store = await openStore(specs.get(n.name)!);
      try {
        await registerNode(store, { name: n.name, systemId: n.systemId, dir: '' }, Date.now);
        const at = performance.now();
        const requestId = await submitCsr(store, n.name, n.csrPem, Date.now);
        asked.set(n.name, { requestId, at });
        settle(n.name);
      } finally {
        await store.close();
      }
    });
    o.log(`  ${nodes.length} nodes registered and submitted in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), o.timeoutMs)));
    const outcome = await Promise.race([allSeen, timedOut]);
    clearTimeout(timer);
    const seconds = (performance.now() - t0) / 1000;
    stopWatch();
    if (outcome === 'timeout') throw new Error(`${latencies.length} of ${nodes.length} certificates seen after ${o.timeoutMs / 1000} s (operator log: ${op.logTail()})`);
    const self = process.cpuUsage(cpu0.self);
    const sorted = [...latencies].sort((a, b) => a - b);
    return {
      store: kind,
      nodes: nodes.length,
      in_flight: o.inFlight,
      seconds: round(seconds, 2),
      operator_cpu_s: round(op.cpu() - cpu0.op, 2),
      etcd_cpu_s: etcd && cpu0.etcd !== null ? round(etcd.cpu() - cpu0.etcd, 2) : null,
      nodes_cpu_s: round((self.user + self.system) / 1e6, 2),
      latency_ms: { median: Math.round(quantile(sorted, 0.5)), p95: Math.round(quantile(sorted, 0.95)), max: Math.round(sorted[sorted.length - 1]!) },
      identities_s: identitiesS === null ? null : round(identitiesS, 1),
    };
  } finally {
    unregister();
    await cleanup();
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
