import type { BenchResults } from '../run.js';

export interface TargetCheck {
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

/** Issue 6's targets checked against this run's figures (never against figures of another run). */
export function checkTargets(r: BenchResults): TargetCheck[] {
  const t = r.throughput_mbps;
  const out: TargetCheck[] = [];
  const ratio = (a: number | null, b: number | null): number | null => (a !== null && b !== null && b > 0 ? a / b : null);

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
      ? `MODP2048: ${h.ours} vs ${h.strongswan}/s` + (hx ? `; responder CPU ${hx.modp2048.ours.cpu_ms_per_handshake} vs ${hx.modp2048.strongswan.cpu_ms_per_handshake} ms each; X25519: ${hx.x25519.ours.per_s} vs ${hx.x25519.strongswan.per_s}/s` : '')
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
