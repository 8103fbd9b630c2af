import type { TargetCheck } from './targets.js';

/** One size of `npm run scale`: what `up` took, and the cluster at rest afterwards. */
export interface ScaleRow {
  nodes: number;
  up_ok: boolean;
  agents_running_s: number | null;
  tunnels_up_s: number | null;
  pods_answering_s: number | null;
  pod_pairs: string | null;
  /** CPU seconds all agents had used when every tunnel was up (from their start). */
  agents_cpu_to_tunnels_s: number | null;
  rest_cpu_pct_of_core: number | null;
  /** How long after `up` the agents' CPU stopped falling and was measured (null: it did not within the wait, or not measured). */
  rest_settled_after_s: number | null;
  rss_mb_median: number | null;
  rss_mb_max: number | null;
  ike_retransmits: number | null;
  /** Summed over the node namespaces when the cluster was up: UDP sends the kernel refused (UdpSndbufErrors) and made (UdpOutDatagrams). */
  udp_sndbuf_errors: number | null;
  udp_out_datagrams: number | null;
  /** Summed over the agents: sends held for another try (refused for now) and IKE messages dropped with no room to hold them. */
  sends_held: number | null;
  ike_sends_dropped: number | null;
  /** The host's 1-minute load average when `up` ended (the machine is shared). */
  load_at_up: number;
  /** `down` removed every namespace and process of the cluster (null: not checked). */
  down_clean: boolean | null;
  last_lines: string[];
}

/** Every pod pair of an n-node cluster with one pod per node answered. */
function allPairs(r: ScaleRow): boolean {
  return r.pod_pairs === `${r.nodes * (r.nodes - 1)}/${r.nodes * (r.nodes - 1)} pod pairs answered`;
}

const notRun = (n: number): string => `not measured: run with --nodes ${n}`;

/** Issue 16's targets checked against this run's rows (never against figures of another run). */
export function checkScaleTargets(rows: readonly ScaleRow[]): TargetCheck[] {
  const at = (n: number): ScaleRow | undefined => rows.find((r) => r.nodes === n);
  const big = at(100);
  const small = at(5);
  const out: Omit<TargetCheck, 'issue'>[] = [];
  out.push({
    target: '100 nodes: every tunnel up and every pod pair answering within 5 minutes of up; down removes everything',
    measured: !big ? notRun(100)
      : `up ${big.up_ok ? 'ok' : 'FAILED'}, tunnels ${big.tunnels_up_s ?? '—'} s, pods ${big.pods_answering_s ?? '—'} s (${big.pod_pairs ?? 'no pod check'}), down ${big.down_clean === null ? 'not checked' : big.down_clean ? 'left nothing' : 'LEFT namespaces or processes'}`,
    met: !big ? null : big.up_ok && allPairs(big) && big.pods_answering_s !== null && big.pods_answering_s <= 300 && big.down_clean === true,
  });
  out.push({
    target: 'at rest, all agents of a 100-node cluster together under 20 % of one core',
    measured: big?.rest_cpu_pct_of_core != null
      ? `${big.rest_cpu_pct_of_core} % of a core, ${big.rest_settled_after_s === null ? 'NOT settled within the wait' : `settled ${big.rest_settled_after_s} s after up`}`
      : big ? 'not measured (up failed)' : notRun(100),
    met: big?.rest_cpu_pct_of_core != null ? big.rest_cpu_pct_of_core < 20 : null,
  });
  for (const [n, mb] of [[5, 60], [100, 80]] as const) {
    const r = n === 5 ? small : big;
    out.push({
      target: `agent RSS ≤ ${mb} MB at ${n} nodes`,
      measured: r?.rss_mb_max != null ? `max ${r.rss_mb_max} MB, median ${r.rss_mb_median} MB` : r ? 'not measured (up failed)' : notRun(n),
      met: r?.rss_mb_max != null ? r.rss_mb_max <= mb : null,
    });
  }
  return out.map((t) => ({ issue: 16, ...t }));
}
