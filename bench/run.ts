#!/usr/bin/env node
/**
 * `npm run bench`: every setup measured one after another on this machine, side by side — plain
 * veth, our overlay with IPsec off, our overlay with IPsec on, our daemon to our daemon (tunnel
 * mode), strongSwan kernel-libipsec to strongSwan, wireguard-go to wireguard-go (the current
 * release and Debian's) — plus IKE handshake rates, a 10/100/1000-peer
 * mesh and OpenSSL's AES-256-GCM ceiling. Prints a table; writes bench/results/latest.json and a
 * dated copy. Options: --quick (2 s runs, 1 repetition), --only ROW[,ROW], --json.
 * Each setup is torn down before the next starts; Ctrl-C removes whatever is up.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../test/helpers/paths.js';
import { MissingPrograms, missingPrograms } from '../src/util/programs.js';
import { NetnsLab } from '../test/helpers/netns.js';
import { aesGcmLimit, machineInfo } from './lib/machine.js';
import { espInProcess, type EspInProcess } from './lib/esp-inprocess.js';
import { BENCH_PREFIX, onInterrupt } from './lib/lab.js';
import { DATA_ROWS, NotMeasurable, type DataRow, type Setup } from './lib/setup.js';
import { measureSetup, type RowFigures } from './lib/traffic.js';
import { renderTable } from './lib/table.js';
import { checkTargets, type TargetCheck } from './lib/targets.js';
import { startVeth } from './setups/veth.js';
import { startCluster } from './setups/cluster.js';
import { startTunnelIpsec } from './setups/tunnel-ipsec.js';
import { startStrongswanLibipsec } from './setups/strongswan.js';
import { startWireguardGo, WIREGUARD_GO, WIREGUARD_GO_DEBIAN } from './setups/wireguard-go.js';
import { ensurePackages } from './lib/prereqs.js';
import { runHandshakes, type HandshakeResults } from './ike/handshakes.js';
import { cleanupMesh, runMesh, type MeshRow } from './ike/mesh.js';
import { makeNodes } from './join/sim-nodes.js';
import { runJoin, type JoinFigures, type JoinStore } from './join/join.js';

const JOIN_ROWS = { join_etcd: 'etcd', join_fs: 'fs' } as const satisfies Record<string, JoinStore>;
const OTHER_ROWS = ['handshakes', 'mesh', ...Object.keys(JOIN_ROWS), 'aes_gcm', 'esp_inprocess'] as const;
const ALL_ROWS: readonly string[] = [...DATA_ROWS, ...OTHER_ROWS];

interface Options {
  quick: boolean;
  only: Set<string>;
  json: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { quick: false, only: new Set(ALL_ROWS), json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') o.quick = true;
    else if (a === '--json') o.json = true;
    else if (a === '--only' || a.startsWith('--only=')) {
      const v = a === '--only' ? argv[++i] : a.slice('--only='.length);
      const rows = (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      const bad = rows.filter((r) => !ALL_ROWS.includes(r));
      if (rows.length === 0 || bad.length) usage(`--only takes rows from: ${ALL_ROWS.join(', ')}${bad.length ? ` (not: ${bad.join(', ')})` : ''}`);
      o.only = new Set(rows);
    } else if (a === '--help' || a === '-h') usage();
    else usage(`unknown option ${a}`);
  }
  return o;
}

function usage(err?: string): never {
  const text = `usage: npm run bench -- [--quick] [--only ROW[,ROW]] [--json]\n  rows: ${ALL_ROWS.join(', ')}\n`;
  if (err) {
    process.stderr.write(`bench: ${err}\n${text}`);
    process.exit(2);
  }
  process.stdout.write(text);
  process.exit(0);
}

const STARTERS: Record<DataRow, (log: (m: string) => void) => Promise<Setup>> = {
  veth: startVeth,
  overlay_plain: () => startCluster(false),
  overlay_ipsec: () => startCluster(true),
  tunnel_ipsec: startTunnelIpsec,
  strongswan_libipsec: startStrongswanLibipsec,
  wireguard_go: (log) => startWireguardGo(WIREGUARD_GO, log),
  wireguard_go_debian: (log) => startWireguardGo(WIREGUARD_GO_DEBIAN, log),
};

export interface BenchResults {
  machine: Awaited<ReturnType<typeof machineInfo>>;
  throughput_mbps: Record<DataRow, number | null>;
  rtt_us: Record<DataRow, number | null>;
  handshakes_per_s: { ours: number | null; strongswan: number | null };
  mesh: MeshRow[];
  /** Simulated nodes joining the control plane, on etcd and on the directory store (issue 13). */
  join: { etcd: JoinFigures | null; fs: JoinFigures | null; key_generation_s: number | null; key_algorithm: 'ecdsa' | 'rsa' };
  aes_gcm_limit_mbps: number | null;
  // Beyond the contract's keys: the rest of what was measured, and why anything is null.
  throughput_4_streams_mbps: Record<DataRow, number | null>;
  udp_rr_per_s: Record<DataRow, number | null>;
  udp_rr_lost: Record<DataRow, number | null>;
  cpu_s_per_gb: Record<DataRow, number | null>;
  endpoints_cpu_s_per_gb: Record<DataRow, number | null>;
  runs: Partial<Record<DataRow, RowFigures['runs']>>;
  describe: Partial<Record<DataRow, string>>;
  handshakes: HandshakeResults | null;
  esp_inprocess_mb_s_per_core: EspInProcess | null;
  not_measured: Record<string, string>;
  /** Issue 6's and issue 15's targets against this run's figures. */
  targets: TargetCheck[];
  settings: { quick: boolean; seconds: number; repetitions: number; pings: number; udp_rr_seconds: number; rows: string[] };
  units: Record<string, string>;
}

const nullRows = (): Record<DataRow, number | null> => Object.fromEntries(DATA_ROWS.map((r) => [r, null])) as Record<DataRow, number | null>;

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const log = (m: string): void => { process.stderr.write(`${m}\n`); };
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench: needs root (network namespaces, TUN devices, charon)\n');
    process.exit(2);
  }
  // The programs every row runs, checked before the first setup is built.
  const missing = missingPrograms(['ip', 'sysctl', 'ping', 'ss', 'iperf3', 'openssl']);
  if (missing.length) {
    process.stderr.write(`bench: ${new MissingPrograms('npm run bench', missing, 'install what the benchmarks need: sudo bash scripts/install-deps.sh').message}\n`);
    process.exit(2);
  }
  const seconds = o.quick ? 2 : 10;
  const reps = o.quick ? 1 : 3;
  const pings = o.quick ? 20 : 50;
  const rrSeconds = o.quick ? 1 : 3;
  const started = Date.now();
  ensurePackages(o.only.has('wireguard_go') || o.only.has('wireguard_go_debian'), log);
  const res: BenchResults = {
    machine: await machineInfo(),
    throughput_mbps: nullRows(),
    rtt_us: nullRows(),
    handshakes_per_s: { ours: null, strongswan: null },
    mesh: [],
    join: { etcd: null, fs: null, key_generation_s: null, key_algorithm: 'ecdsa' },
    aes_gcm_limit_mbps: null,
    throughput_4_streams_mbps: nullRows(),
    udp_rr_per_s: nullRows(),
    udp_rr_lost: nullRows(),
    cpu_s_per_gb: nullRows(),
    endpoints_cpu_s_per_gb: nullRows(),
    runs: {},
    describe: {},
    handshakes: null,
    esp_inprocess_mb_s_per_core: null,
    not_measured: {},
    targets: [],
    settings: { quick: o.quick, seconds, repetitions: reps, pings, udp_rr_seconds: rrSeconds, rows: [...o.only] },
    units: {
      throughput_mbps: 'Mbit/s, iperf3 TCP, 1 stream, median of the repetitions (throughput_4_streams_mbps: 4 streams)',
      rtt_us: 'microseconds, median ping round trip',
      udp_rr_per_s: 'UDP 64-byte request/response transactions per second, one outstanding',
      cpu_s_per_gb: 'CPU seconds (user+system, all threads) of the data-path daemons per 10^9 bytes received; null for veth (no daemon)',
      endpoints_cpu_s_per_gb: 'CPU seconds of both iperf3 processes per 10^9 bytes (as iperf3 reports them)',
      handshakes_per_s: 'IKE_SA + first CHILD_SA established per second at the responder, MODP2048, RSA-2048 certificates',
      mesh: 'seconds from first IKE_SA_INIT to all CHILD_SAs up; rss_mb: the node process RSS then; kb_per_peer: RSS growth / peers',
      join: 'seconds from the first node registration to the last signed certificate seen by a watching agent; *_cpu_s: CPU seconds over those seconds (operator process, etcd member, the benchmark process holding the simulated nodes); identities_s and key_generation_s: setup before the clock (etcd users + client certificates; node keys + CSRs)',
      esp_inprocess_mb_s_per_core: 'MB/s per core of CPU time, 1400-byte packets sealed + opened in one process, no I/O (bench/esp-throughput.ts)',
      aes_gcm_limit_mbps: 'MB/s (10^6 bytes), openssl speed -evp aes-256-gcm, 1024-byte blocks, one core',
    },
  };
  // Processes the measurements start (iperf3/udp-rr servers) are tracked here; it owns no namespaces.
  const procs = new NetnsLab(`${BENCH_PREFIX}-proc`);
  onInterrupt(() => procs.cleanup());

  for (const row of DATA_ROWS) {
    if (!o.only.has(row)) continue;
    log(`== ${row}`);
    let setup: Setup | undefined;
    try {
      setup = await STARTERS[row](log);
      res.describe[row] = setup.describe;
      const f = await measureSetup(procs, setup, { seconds, reps, pings, rrSeconds }, log);
      res.throughput_mbps[row] = round(f.throughput_1_mbps);
      res.throughput_4_streams_mbps[row] = round(f.throughput_4_mbps);
      res.rtt_us[row] = round(f.rtt_us);
      res.udp_rr_per_s[row] = round(f.udp_rr_per_s);
      res.udp_rr_lost[row] = f.udp_rr_lost;
      res.cpu_s_per_gb[row] = round(f.cpu_s_per_gb, 2);
      res.endpoints_cpu_s_per_gb[row] = round(f.endpoints_cpu_s_per_gb, 2);
      res.runs[row] = f.runs;
    } catch (e) {
      const reason = e instanceof NotMeasurable ? e.reason : `failed: ${(e as Error).message.split('\n')[0]}`;
      res.not_measured[row] = reason;
      log(`  ${row}: not measured — ${reason}`);
      if (!(e instanceof NotMeasurable)) log(String((e as Error).stack ?? e));
    } finally {
      await procs.cleanup();
      await setup?.teardown();
    }
  }

  if (o.only.has('handshakes')) {
    log('== handshakes');
    try {
      res.handshakes = await runHandshakes({ seconds: o.quick ? 2 : 8, log });
      res.handshakes_per_s = { ours: res.handshakes.modp2048.ours.per_s, strongswan: res.handshakes.modp2048.strongswan.per_s };
      for (const [k, v] of Object.entries(res.handshakes.not_measured)) res.not_measured[`handshakes.${k}`] = v;
    } catch (e) {
      res.not_measured.handshakes = `failed: ${(e as Error).message.split('\n')[0]}`;
      log(String((e as Error).stack ?? e));
    }
  }

  if (o.only.has('mesh')) {
    log('== mesh');
    for (const peers of o.quick ? [10, 100] : [10, 100, 1000]) {
      try {
        const m = await runMesh({ peers, log });
        res.mesh.push(m);
      } catch (e) {
        res.not_measured[`mesh.${peers}`] = `failed: ${(e as Error).message.split('\n')[0]}`;
        log(String((e as Error).stack ?? e));
      }
    }
    cleanupMesh();
  }

  const joins = (Object.keys(JOIN_ROWS) as (keyof typeof JOIN_ROWS)[]).filter((r) => o.only.has(r));
  if (joins.length) {
    const count = o.quick ? 200 : 1000;
    log(`== join: ${count} simulated nodes (${joins.join(', ')})`);
    const made = await makeNodes(count, res.join.key_algorithm);
    res.join.key_generation_s = round(made.seconds, 1);
    log(`  ${count} ECDSA P-256 keys and CSRs made in ${made.seconds.toFixed(1)} s (before the clock)`);
    for (const row of joins) {
      log(`== ${row}`);
      try {
        const f = await runJoin(JOIN_ROWS[row], made.nodes, { inFlight: 50, timeoutMs: 300_000, log });
        res.join[JOIN_ROWS[row]] = f;
        log(`  ${f.nodes} nodes joined in ${f.seconds} s; operator CPU ${f.operator_cpu_s} s`);
      } catch (e) {
        res.not_measured[row] = `failed: ${(e as Error).message.split('\n')[0]}`;
        log(String((e as Error).stack ?? e));
      }
    }
  }

  if (o.only.has('aes_gcm')) {
    log('== openssl speed -evp aes-256-gcm');
    res.aes_gcm_limit_mbps = await aesGcmLimit(o.quick ? 1 : 3);
  }

  if (o.only.has('esp_inprocess')) {
    log('== ESP in process (bench/esp-throughput)');
    res.esp_inprocess_mb_s_per_core = await espInProcess(1);
    if (res.esp_inprocess_mb_s_per_core.data_path === null) res.not_measured.esp_inprocess = 'bench/esp-throughput gave no figures';
  }

  for (const row of ALL_ROWS) if (!o.only.has(row)) res.not_measured[row] = 'not run (--only)';
  res.targets = checkTargets(res);
  res.machine.load_end = os.loadavg().map((x) => Math.round(x * 100) / 100);

  const dir = path.join(repoRoot, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const text = JSON.stringify(res, null, 2) + '\n';
  writeFileSync(path.join(dir, 'latest.json'), text);
  const dated = path.join(dir, `${res.machine.date.replace(/[:]/g, '').replace(/\.\d+Z$/, 'Z')}${o.quick ? '-quick' : ''}.json`);
  writeFileSync(dated, text);
  if (o.json) process.stdout.write(text);
  else process.stdout.write(renderTable(res));
  log(`wrote ${path.relative(process.cwd(), path.join(dir, 'latest.json'))} and ${path.relative(process.cwd(), dated)} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
}

function round(x: number | null, digits = 0): number | null {
  if (x === null || !Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

main().then(() => process.exit(0), (e: unknown) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
