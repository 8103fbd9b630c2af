import type { BenchResults } from '../run.js';
import type { DataRow } from './setup.js';
import type { HandshakeFigure } from '../ike/handshakes.js';

export interface TargetCheck {
  /** The issue that set the target. */
  issue: number;
  target: string;
  /** What was measured, in words and numbers; says what is missing when it could not be. */
  measured: string;
  /** true/false when both sides were measured; null when a figure is missing. */
  met: boolean | null;
}

function missing(t: Record<string, number | null>, keys: string[]): string {
  return `not measured: ${keys.filter((k) => t[k] === null).join(', ')}`;
}

const r1 = (x: number): string => (Math.round(x * 10) / 10).toString();
/**
 * A ratio held against an "at least" line, cut (not rounded) to two decimals: 1.465 shows as
 * 1.46×, never as a 1.5× that the same line calls missed.
 */
const atLeast2 = (x: number): string => (Math.floor(x * 100 + 1e-9) / 100).toFixed(2);
const pct = (x: number): string => `${(Math.round(x * 1000) / 10).toString()} %`;
/** How long our responder and the load waited for a CPU: a rate that is CPU-bound falls with the machine's other work. */
const cpuWaits = (f: HandshakeFigure): string =>
  `ours waited for a CPU ${f.responder_cpu_wait_share === null ? '?' : pct(f.responder_cpu_wait_share)} (responder), ${f.initiator_cpu_wait_share === null ? '?' : pct(f.initiator_cpu_wait_share)} (load) of the time`;
const ratio = (a: number | null, b: number | null): number | null => (a !== null && b !== null && b > 0 ? a / b : null);

/** Issue 6's and issue 15's targets checked against this run's figures (never against figures of another run). */
export function checkTargets(r: BenchResults): TargetCheck[] {
  return [...issue6Targets(r).map((t) => ({ issue: 6, ...t })), ...issue15Targets(r).map((t) => ({ issue: 15, ...t })), { issue: 13, ...joinTarget(r) }];
}

/** Issue 13: 1000 simulated nodes join through etcd in under 60 s, the directory store beside it. */
function joinTarget(r: BenchResults): Check {
  const { etcd, fs } = r.join;
  const target = '1000 simulated nodes join through etcd (register, CSR, certificate seen) in under 60 s';
  const fsText = fs ? `directory store ${fs.seconds} s, operator CPU ${fs.operator_cpu_s} s` : 'directory store not measured';
  if (!etcd) return { target, measured: `join_etcd not measured; ${fsText}`, met: null };
  const measured = `${etcd.nodes} nodes in ${etcd.seconds} s, operator CPU ${etcd.operator_cpu_s} s, etcd CPU ${etcd.etcd_cpu_s} s; ${fsText}`;
  return { target, measured, met: etcd.nodes >= 1000 ? etcd.seconds < 60 : null };
}

type Check = Omit<TargetCheck, 'issue'>;

function issue6Targets(r: BenchResults): Check[] {
  const t = r.throughput_mbps;
  const out: Check[] = [];

  const vsSwan = ratio(t.overlay_ipsec, t.strongswan_libipsec);
  const tunVsSwan = ratio(t.tunnel_ipsec, t.strongswan_libipsec);
  out.push({
    target: 'overlay with IPsec ≥ 2× strongSwan kernel-libipsec throughput',
    measured: vsSwan !== null ? `${r1(vsSwan)}× (${t.overlay_ipsec} vs ${t.strongswan_libipsec} Mbit/s)` : `${missing(t, ['overlay_ipsec', 'strongswan_libipsec'])}${tunVsSwan !== null ? `; our tunnel_ipsec is ${r1(tunVsSwan)}× strongSwan (${t.tunnel_ipsec} vs ${t.strongswan_libipsec} Mbit/s)` : ''}`,
    met: vsSwan === null ? null : vsSwan >= 2,
  });
  const vsPlain = ratio(t.overlay_ipsec, t.overlay_plain);
  out.push({
    target: 'overlay with IPsec ≥ 80 % of our IPsec-off overlay',
    measured: vsPlain !== null ? `${Math.round(vsPlain * 100)} % (${t.overlay_ipsec} vs ${t.overlay_plain} Mbit/s)` : missing(t, ['overlay_ipsec', 'overlay_plain']),
    met: vsPlain === null ? null : vsPlain >= 0.8,
  });
  const rttOurs = r.rtt_us.overlay_ipsec ?? r.rtt_us.tunnel_ipsec;
  const rttWho = r.rtt_us.overlay_ipsec !== null ? 'overlay_ipsec' : 'tunnel_ipsec';
  const rttSwan = r.rtt_us.strongswan_libipsec;
  out.push({
    target: 'RTT through our tunnel ≤ strongSwan\'s',
    measured: rttOurs !== null && rttSwan !== null ? `${rttWho} ${rttOurs} µs vs strongSwan ${rttSwan} µs` : 'a figure is missing',
    met: rttOurs !== null && rttSwan !== null ? rttOurs <= rttSwan : null,
  });
  const h = r.handshakes_per_s;
  const hx = r.handshakes;
  out.push({
    target: 'handshakes per second ≥ strongSwan\'s responder',
    measured: h.ours !== null && h.strongswan !== null
      ? `MODP2048: ${h.ours} vs ${h.strongswan}/s` + (hx ? `; responder CPU ${hx.modp2048.ours.cpu_ms_per_handshake} vs ${hx.modp2048.strongswan.cpu_ms_per_handshake} ms each; X25519: ${hx.x25519.ours.per_s} vs ${hx.x25519.strongswan.per_s}/s; ${cpuWaits(hx.modp2048.ours)}` : '')
      : 'a figure is missing',
    met: h.ours !== null && h.strongswan !== null ? h.ours >= h.strongswan : null,
  });
  const m = r.mesh.find((x) => x.peers === 1000);
  out.push({
    target: '1000 peers from one node established in under 10 s',
    measured: m?.seconds != null ? `${m.seconds} s (hub CPU ${m.hub_cpu_s} s, ${m.retransmits} retransmits)` : '1000-peer mesh not measured',
    met: m?.seconds != null ? m.seconds < 10 : null,
  });
  out.push({
    target: 'under 64 KB of memory per peer',
    measured: m?.kb_per_peer != null ? `${m.kb_per_peer} KB RSS per peer (${m.heap_kb_per_peer} KB of V8 heap in use, ${m.buffers_kb_per_peer} KB of buffers)` : '1000-peer mesh not measured',
    met: m?.kb_per_peer != null ? m.kb_per_peer < 64 : null,
  });
  return out;
}

/** A throughput ratio ours / theirs ≥ `min`, with both medians (1 stream) and the 4-stream ratio beside it. */
function throughputAtLeast(r: BenchResults, target: string, ours: DataRow, theirs: DataRow, min: number, show: (x: number) => string): Check {
  const t = r.throughput_mbps;
  const t4 = r.throughput_4_streams_mbps;
  const x = ratio(t[ours], t[theirs]);
  const x4 = ratio(t4[ours], t4[theirs]);
  return {
    target,
    measured: x !== null
      ? `${show(x)} (${t[ours]} vs ${t[theirs]} Mbit/s)${x4 !== null ? `; 4 streams ${show(x4)} (${t4[ours]} vs ${t4[theirs]})` : ''}`
      : missing(t, [ours, theirs]),
    met: x === null ? null : x >= min,
  };
}

/** The peers our RTT is held against: every other implementation measured on the same kind of ground. */
const PEERS: DataRow[] = ['strongswan_libipsec', 'wireguard_go', 'wireguard_go_debian'];

function issue15Targets(r: BenchResults): Check[] {
  const out: Check[] = [];
  out.push(throughputAtLeast(r, 'tunnel_ipsec ≥ 1.5× wireguard-go (current release) throughput', 'tunnel_ipsec', 'wireguard_go', 1.5, (x) => `${atLeast2(x)}×`));
  const c = r.cpu_s_per_gb;
  out.push({
    target: 'tunnel_ipsec CPU per GB ≤ wireguard-go\'s (current release)',
    measured: c.tunnel_ipsec !== null && c.wireguard_go !== null ? `${c.tunnel_ipsec} vs ${c.wireguard_go} s/GB` : missing(c, ['tunnel_ipsec', 'wireguard_go']),
    met: c.tunnel_ipsec !== null && c.wireguard_go !== null ? c.tunnel_ipsec <= c.wireguard_go : null,
  });
  out.push(throughputAtLeast(r, 'tunnel_ipsec ≥ 35 % of veth', 'tunnel_ipsec', 'veth', 0.35, pct));
  out.push(throughputAtLeast(r, 'overlay with IPsec ≥ 95 % of our IPsec-off overlay', 'overlay_ipsec', 'overlay_plain', 0.95, pct));
  const rtt = r.rtt_us;
  const ours = (['overlay_ipsec', 'tunnel_ipsec'] as const).filter((k) => rtt[k] !== null);
  const peers = PEERS.filter((k) => rtt[k] !== null).sort((x, y) => rtt[x]! - rtt[y]!);
  const best = peers[0];
  const oursText = ours.map((k) => `${k} ${rtt[k]} µs`).join(', ');
  out.push({
    target: 'RTT of overlay_ipsec and tunnel_ipsec ≤ the lowest peer RTT in the run',
    measured: best !== undefined && ours.length
      ? `${oursText} vs ${best} ${rtt[best]} µs (peers: ${peers.map((k) => `${k} ${rtt[k]}`).join(', ')})` +
        (ours.length < 2 ? `; ${missing(rtt, ['overlay_ipsec', 'tunnel_ipsec'])}` : '')
      : `${ours.length ? oursText + '; ' : ''}${best === undefined ? `no peer measured (${PEERS.join(', ')})` : missing(rtt, ['overlay_ipsec', 'tunnel_ipsec'])}`,
    met: best !== undefined && ours.length ? ours.every((k) => rtt[k]! <= rtt[best]!) : null,
  });
  return out;
}
