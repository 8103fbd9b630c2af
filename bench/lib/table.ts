import { DATA_ROWS } from './setup.js';
import type { BenchResults } from '../run.js';
import type { TargetCheck } from './targets.js';

const fmt = (x: number | null | undefined, digits = 0): string => (x === null || x === undefined ? '—' : x.toFixed(digits));
const fmtShare = (x: number | null | undefined): string => (x === null || x === undefined ? '—' : String(Math.round(x * 100)));

/** Columns padded to their widest cell; a row of two cells (name, note) spans the figures' columns. */
function grid(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.filter((r) => r.length === head.length).map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.length === 2 && head.length > 2
    ? `${cells[0]!.padEnd(w[0]!)}  ${cells[1]}`
    : cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ').trimEnd();
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

/** Why a row asked for has no figures, when it has none ("not run (--only)" rows show dashes). */
function whyNot(r: BenchResults, row: string): string | undefined {
  const why = r.not_measured[row];
  return why !== undefined && r.settings.rows.includes(row) ? why : undefined;
}

/** The human-readable summary: one table per kind of figure, and every null with its reason. */
export function renderTable(r: BenchResults): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(`machine: ${m.cpu_model}, ${m.cores} cores, ${m.kernel}, node ${m.node}, ${m.openssl}; load ${m.load_start.join(' ')} → ${(m.load_end ?? []).join(' ')}`);
  out.push(`settings: ${r.settings.quick ? 'quick' : 'full'} — iperf3 TCP ${r.settings.seconds} s × ${r.settings.repetitions}, ${r.settings.pings} pings, UDP RR ${r.settings.udp_rr_seconds} s`);
  out.push('');
  out.push(grid(
    ['setup', 'TCP 1 Mbit/s', 'TCP 4 Mbit/s', 'RTT µs', 'UDP RR/s', 'CPU s/GB', 'iperf3 CPU s/GB'],
    DATA_ROWS.map((k) => whyNot(r, k) !== undefined ? [k, `not measured: ${whyNot(r, k)}`] : [k, fmt(r.throughput_mbps[k]), fmt(r.throughput_4_streams_mbps[k]), fmt(r.rtt_us[k]), fmt(r.udp_rr_per_s[k]),
      fmt(r.cpu_s_per_gb[k], 2), fmt(r.endpoints_cpu_s_per_gb[k], 2)]),
  ));
  out.push('');
  if (r.handshakes) {
    const h = r.handshakes;
    const rows = (['modp2048', 'x25519'] as const).flatMap((g) => (['ours', 'strongswan'] as const).map((who) => {
      const x = h[g][who];
      const waited = `${fmtShare(x.responder_cpu_wait_share)} / ${fmtShare(x.initiator_cpu_wait_share)}`;
      return [`${who} (${g})`, fmt(x.per_s, 1), fmt(x.cpu_ms_per_handshake, 2), fmt(x.initiator_cpu_ms_per_handshake, 2), waited, String(x.established), String(x.retransmits ?? '—')];
    }));
    out.push(grid(['responder', 'handshakes/s', 'responder CPU ms each', 'load CPU ms each', 'waited for a CPU % (resp / load)', 'established', 'retransmits'], rows));
    out.push('');
  }
  if (r.mesh.length) {
    out.push(grid(['mesh peers', 'seconds', 'hub CPU s', 'RSS MB', 'RSS KB/peer', 'heap KB/peer', 'buffers KB/peer', 'retransmits'],
      r.mesh.map((x) => [String(x.peers), fmt(x.seconds, 2), fmt(x.hub_cpu_s, 2), fmt(x.rss_mb, 1), fmt(x.kb_per_peer, 1), fmt(x.heap_kb_per_peer, 1), fmt(x.buffers_kb_per_peer, 1), String(x.retransmits)])));
    out.push('');
  }
  const j = r.join;
  if (j.etcd || j.fs) {
    out.push(grid(['join (store)', 'nodes', 'seconds', 'operator CPU s', 'etcd CPU s', 'nodes CPU s', 'median ms', 'p95 ms', 'identities s'],
      [j.etcd, j.fs].filter((x) => x !== null).map((x) => [x.store === 'fs' ? 'directory' : x.store, String(x.nodes), fmt(x.seconds, 1), fmt(x.operator_cpu_s, 1), fmt(x.etcd_cpu_s, 1), fmt(x.nodes_cpu_s, 1),
        fmt(x.latency_ms.median), fmt(x.latency_ms.p95), fmt(x.identities_s, 1)])));
    out.push(`  (node keys: ${j.key_algorithm}, made before the clock in ${fmt(j.key_generation_s, 1)} s; ${j.etcd?.in_flight ?? j.fs?.in_flight} nodes registering at once)`);
    out.push('');
  }
  out.push(`AES-256-GCM limit (openssl speed, 1 KiB blocks, one core): ${fmt(r.aes_gcm_limit_mbps)} MB/s` +
    (r.aes_gcm_limit_mbps !== null ? ` = ${fmt((r.aes_gcm_limit_mbps * 8) / 1000, 1)} Gbit/s` : ''));
  const e = r.esp_inprocess_mb_s_per_core;
  if (e) out.push(`ESP in process, no I/O (MB/s per core, 1400-byte packets, seal + open): data path ${fmt(e.data_path)}, SA pair ${fmt(e.sa_pair)}, bare node:crypto ${fmt(e.node_crypto_baseline)}`);
  if (r.targets.length) out.push('', ...targetLines(r.targets));
  const nm = Object.entries(r.not_measured);
  if (nm.length) {
    out.push('');
    out.push('not measured (null in the JSON):');
    for (const [k, v] of nm) out.push(`  ${k}: ${v}`);
  }
  return out.join('\n') + '\n';
}

/** The target lines under a table: per issue, each target met, MISSED or n/a (a figure missing). */
export function targetLines(targets: readonly TargetCheck[]): string[] {
  const out: string[] = [];
  for (const issue of [...new Set(targets.map((t) => t.issue))]) {
    out.push(`targets (issue ${issue}):`);
    for (const t of targets.filter((x) => x.issue === issue)) out.push(`  [${t.met === null ? ' n/a ' : t.met ? ' met ' : 'MISSED'}] ${t.target}: ${t.measured}`);
  }
  return out;
}
