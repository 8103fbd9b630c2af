import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NetnsLab } from '../../test/helpers/netns.js';
import { waitFor } from '../../test/helpers/netns.js';
import { runTracked as runAsync } from './exec.js';
import { cpuSecondsOf, median } from './proc.js';
import type { Setup } from './setup.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const udpRrJs = path.join(here, '..', 'udp-rr.js');

function inNs(ns: string, cmd: string[], timeoutMs: number) {
  return runAsync(['ip', 'netns', 'exec', ns, ...cmd], { timeoutMs });
}

export interface TcpRun {
  mbps: number;
  bytes: number;
  seconds: number;
  /** CPU seconds the data-path daemons spent during the run. */
  dataPathCpu: number;
  /** CPU seconds of the two iperf3 processes (kernel work in their context included), from iperf3's own report. */
  endpointsCpu: number;
  retransmits: number;
}

interface IperfJson {
  end: {
    sum_received: { bytes: number; bits_per_second: number; seconds: number };
    sum_sent?: { retransmits?: number };
    cpu_utilization_percent: { host_total: number; remote_total: number };
  };
  error?: string;
}

const IPERF_PORT = 5201;

/** An iperf3 server in the setup's server namespace, bound to its address; stopped with the lab. */
export async function startIperfServer(lab: NetnsLab, s: Setup): Promise<void> {
  lab.spawn(s.serverNs, ['iperf3', '-s', '-B', s.serverAddr, '-p', String(IPERF_PORT)]);
  await waitFor(async () => (await inNs(s.serverNs, ['ss', '-Hltn', `sport = :${IPERF_PORT}`], 5000)).stdout.includes(String(IPERF_PORT)),
    `iperf3 server in ${s.serverNs}`, 10_000, 50);
}

/** One iperf3 TCP run client → server with `streams` parallel streams for `seconds`. */
export async function iperfTcp(s: Setup, streams: number, seconds: number): Promise<TcpRun> {
  const cpu0 = cpuSecondsOf(s.dataPathPids);
  const r = await inNs(s.clientNs, ['iperf3', '-c', s.serverAddr, '-B', s.clientAddr, '-p', String(IPERF_PORT), '-t', String(seconds),
    '-P', String(streams), '-J'], (seconds + 30) * 1000);
  const dataPathCpu = cpuSecondsOf(s.dataPathPids) - cpu0;
  let j: IperfJson;
  try {
    j = JSON.parse(r.stdout) as IperfJson;
  } catch {
    throw new Error(`iperf3 client in ${s.clientNs} gave no JSON (exit ${r.code}): ${r.stderr}${r.stdout.slice(0, 500)}`);
  }
  if (j.error) throw new Error(`iperf3 ${s.row}: ${j.error}`);
  const rx = j.end.sum_received;
  const cpuPct = j.end.cpu_utilization_percent;
  return {
    mbps: rx.bits_per_second / 1e6,
    bytes: rx.bytes,
    seconds: rx.seconds,
    dataPathCpu,
    endpointsCpu: ((cpuPct.host_total + cpuPct.remote_total) / 100) * rx.seconds,
    retransmits: j.end.sum_sent?.retransmits ?? 0,
  };
}

/** Ping round trips (µs) from client to server address; the first (ARP, cold caches) is dropped. */
export async function pingRtts(s: Setup, count: number): Promise<number[]> {
  const r = await inNs(s.clientNs, ['ping', '-n', '-c', String(count + 1), '-i', '0.02', '-W', '2', '-I', s.clientAddr, s.serverAddr], 60_000);
  const rtts = [...r.stdout.matchAll(/icmp_seq=(\d+) .*time=([\d.]+) ms/g)].filter((m) => m[1] !== '1').map((m) => Number(m[2]) * 1000);
  if (rtts.length === 0) throw new Error(`ping ${s.serverAddr} from ${s.clientNs}: no replies\n${r.stdout}${r.stderr}`);
  return rtts;
}

/**
 * UDP request/response rate: one 64-byte request outstanding at a time (bench/udp-rr.ts), client
 * in the client namespace, echo server in the server namespace. Transactions per second.
 */
export async function udpRequestResponse(lab: NetnsLab, s: Setup, seconds: number): Promise<{ perS: number; lost: number }> {
  const port = 7100;
  const server = lab.spawn(s.serverNs, [process.execPath, udpRrJs, 'server', s.serverAddr, String(port)]);
  try {
    await new Promise<void>((resolve, reject) => {
      server.stdout!.once('data', () => resolve());
      server.once('exit', (c) => reject(new Error(`udp-rr server exited ${c}`)));
    });
    const r = await inNs(s.clientNs, [process.execPath, udpRrJs, 'client', s.serverAddr, String(port), s.clientAddr, String(seconds)], (seconds + 20) * 1000);
    const j = JSON.parse(r.stdout) as { transactions: number; seconds: number; lost: number };
    return { perS: j.transactions / j.seconds, lost: j.lost };
  } finally {
    await lab.stop(server);
  }
}

export interface RowFigures {
  throughput_1_mbps: number | null;
  throughput_4_mbps: number | null;
  /** Data-path daemons' CPU seconds per 10^9 bytes received (null: no daemon, the kernel carries it). */
  cpu_s_per_gb: number | null;
  endpoints_cpu_s_per_gb: number | null;
  rtt_us: number | null;
  udp_rr_per_s: number | null;
  /** Requests unanswered within 200 ms (each costs the client that wait). */
  udp_rr_lost: number;
  retransmits: number;
  runs: { streams: number; mbps: number }[];
}

/** Everything the table reports for one running setup: TCP 1 and 4 streams × reps, ping, UDP RR. */
export async function measureSetup(lab: NetnsLab, s: Setup, o: { seconds: number; reps: number; pings: number; rrSeconds: number }, log: (m: string) => void): Promise<RowFigures> {
  await startIperfServer(lab, s);
  const runs: { streams: number; run: TcpRun }[] = [];
  for (let rep = 0; rep < o.reps; rep++) {
    for (const streams of [1, 4]) {
      const run = await iperfTcp(s, streams, o.seconds);
      log(`  ${s.row}: TCP ${streams} stream${streams > 1 ? 's' : ''}, run ${rep + 1}/${o.reps}: ${run.mbps.toFixed(0)} Mbit/s` +
        (s.dataPathPids.length ? `, data path CPU ${run.dataPathCpu.toFixed(2)} s` : '') + `, ${run.retransmits} retransmits`);
      runs.push({ streams, run });
    }
  }
  const rtts = await pingRtts(s, o.pings);
  const rr = await udpRequestResponse(lab, s, o.rrSeconds);
  log(`  ${s.row}: ping median ${median(rtts)?.toFixed(0)} µs, UDP RR ${rr.perS.toFixed(0)}/s (${rr.lost} lost)`);
  const bytes = runs.reduce((a, r) => a + r.run.bytes, 0);
  const gb = bytes / 1e9;
  const dpCpu = runs.reduce((a, r) => a + r.run.dataPathCpu, 0);
  const epCpu = runs.reduce((a, r) => a + r.run.endpointsCpu, 0);
  return {
    throughput_1_mbps: median(runs.filter((r) => r.streams === 1).map((r) => r.run.mbps)),
    throughput_4_mbps: median(runs.filter((r) => r.streams === 4).map((r) => r.run.mbps)),
    cpu_s_per_gb: s.dataPathPids.length && gb > 0 ? dpCpu / gb : null,
    endpoints_cpu_s_per_gb: gb > 0 ? epCpu / gb : null,
    rtt_us: median(rtts),
    udp_rr_per_s: rr.perS,
    udp_rr_lost: rr.lost,
    retransmits: runs.reduce((a, r) => a + r.run.retransmits, 0),
    runs: runs.map((r) => ({ streams: r.streams, mbps: Math.round(r.run.mbps) })),
  };
}
