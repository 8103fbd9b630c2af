import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readPcapFile } from '../wire/pcap.js';
import { requirePrograms } from '../util/programs.js';
import { nodeDir } from '../store/layout.js';
import { readAgentStateFile } from './agent-state-file.js';
import { pidAlive } from '../util/pid.js';
import { UnderlayCapture } from './capture.js';
import type { ClusterState } from './state.js';
import { classifyCapture, type Verdict } from './verify-classify.js';
import { gatherKeylogs, type KeylogSummary } from './verify-keylog.js';
import { generateTraffic } from './verify-traffic.js';
import { ETCD_CLIENT_PORT, ETCD_PEER_PORT } from './etcd-members.js';

/**
 * `overlay-ipsec verify`: capture the underlay while pods on different nodes talk, classify every
 * packet between node addresses, and say whether the overlay crossed encrypted.
 */

export interface VerifyOptions {
  seconds: number;
  /** Keep the capture here (otherwise a temporary file, removed). */
  pcap?: string;
  /** Gather the agents' key logs here. */
  keylog?: string;
  /** Each pod talks to pods on this many other nodes (the next ones in plan order); default: every other node. */
  destinations?: number;
}

export interface VerifyReport extends Verdict {
  /**
   * IPsec is wanted: the mode every running agent reports is Full (the mode can change at run
   * time, `config apply`); with no agent to ask, what the config said at `up`.
   */
  ipsec: boolean;
  /** Each node's IPsec mode as its running agent reports it: Full, Disabled, or enabling / disabling while switching. */
  modes: Record<string, string>;
  seconds: number;
  capture: { netns: string; interface: string; pcap: string | null };
  pings: { from: string; to: string; ip: string; sent: number; received: number }[];
  keylog?: KeylogSummary;
  /** 0 when encrypted; 1 when cleartext Geneve crossed or no ESP was seen. */
  exit_code: number;
}

/** What `verify` runs: tcpdump on the underlay switch, ping between pods, ip to enter namespaces. */
export const VERIFY_PROGRAMS = ['ip', 'ping', 'tcpdump'] as const;

export async function verifyCluster(state: ClusterState, o: VerifyOptions): Promise<VerifyReport> {
  requirePrograms(VERIFY_PROGRAMS, 'overlay-ipsec verify');
  const plan = state.plan;
  const tmp = o.pcap ? undefined : await mkdtemp(path.join(tmpdir(), 'oi-verify-'));
  const file = o.pcap ? path.resolve(o.pcap) : path.join(tmp!, 'underlay.pcap');
  try {
    const capture = await UnderlayCapture.start(plan.underlay.netns, plan.underlay.bridge, file);
    let pings;
    try {
      pings = await generateTraffic(plan.nodes, o.seconds, o.destinations);
      // Replies still in flight when the last ping gave up belong in the capture too.
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      await capture.stop();
    }
    const parsed = readPcapFile(file);
    if (typeof parsed === 'string') throw new Error(`${file}: tcpdump wrote no readable capture (${parsed})`);
    const etcd = state.etcd;
    const verdict = classifyCapture(parsed, plan.nodes.map((n) => n.underlayIp), etcd
      ? { addresses: [...etcd.members.map((m) => m.ip), etcd.adminIp], ports: [ETCD_CLIENT_PORT, ETCD_PEER_PORT] }
      : undefined);
    const modes = await agentModes(state);
    const reported = Object.values(modes);
    const report: VerifyReport = {
      ...verdict,
      ipsec: reported.length ? reported.every((m) => m === 'Full') : state.ipsec,
      modes,
      seconds: o.seconds,
      capture: { netns: plan.underlay.netns, interface: plan.underlay.bridge, pcap: o.pcap ? file : null },
      pings: pings.map((p) => ({ from: p.from.name, to: p.to.name, ip: p.to.ip, sent: p.sent, received: p.received })),
      exit_code: verdict.encrypted ? 0 : 1,
    };
    if (o.keylog) report.keylog = await gatherKeylogs(plan.nodes.map((n) => nodeDir(state.stateDir, n.name)), path.resolve(o.keylog));
    return report;
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
}

/** What each node's running agent says of its IPsec mode (`<node dir>/agent.json`); nodes without a running agent are left out. */
async function agentModes(state: ClusterState): Promise<Record<string, string>> {
  const modes: Record<string, string> = {};
  for (const n of state.plan.nodes) {
    const st = await readAgentStateFile(state.stateDir, n.name);
    const mode = st && (st.ipsec_phase ?? st.ipsec);
    if (st && st.phase !== 'stopped' && pidAlive(st.pid) && mode) modes[n.name] = mode;
  }
  return modes;
}

/** Why cleartext crossed, in the words of the nodes' modes: a leak with IPsec on, expected with it off, or a switch under way. */
function cleartextContext(r: VerifyReport): string {
  const modes = Object.entries(r.modes);
  if (modes.length === 0) return r.ipsec ? ' although IPsec is on in this cluster\'s config' : ' (IPsec is off in this cluster\'s config)';
  const distinct = new Set(modes.map(([, m]) => m));
  if (distinct.size === 1 && distinct.has('Full')) return ' although IPsec is on (every node reports mode Full)';
  if (distinct.size === 1 && distinct.has('Disabled')) return ' (IPsec is off: every node reports mode Disabled)';
  return ` while the nodes' IPsec modes differ (${modes.map(([n, m]) => `${n}=${m}`).join(' ')})`;
}

/** The report as text: counts, then a plain verdict (the seed's §5.1 / §5.2). */
export function formatVerifyReport(r: VerifyReport): string {
  const p = r.packets;
  const lines = [
    `underlay capture: ${r.seconds} s on ${r.capture.netns}/${r.capture.interface}, ${r.total} packets${r.capture.pcap ? ` (kept in ${r.capture.pcap})` : ''}`,
    `between nodes: ESP ${p.esp}, IKE ${p.ike}, cleartext Geneve ${p.geneve_cleartext}, other ${p.other}`,
  ];
  if (r.spis.length) lines.push(`ESP SPIs: ${r.spis.join(' ')}`);
  const cp = r.control_plane;
  if (cp) {
    lines.push(`control plane (nodes and operator ↔ etcd, etcd ↔ etcd): TLS ${cp.tls}, not yet judged ${cp.unsynced}, cleartext ${cp.cleartext}` +
      (cp.cleartext ? ' — NOT ENCRYPTED' : ''));
  }
  const other = Object.entries(r.other_causes);
  if (other.length) lines.push(`other: ${other.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  const failed = r.pings.filter((x) => x.received === 0);
  lines.push(`pod traffic: ${r.pings.length - failed.length}/${r.pings.length} pod pairs answered${failed.length ? ` (no answer: ${failed.map((x) => `${x.from} → ${x.to}`).join(', ')})` : ''}`);
  if (r.keylog) lines.push(`key logs: ${Object.entries(r.keylog.rows).map(([k, v]) => `${k} ${v} rows`).join(', ')} in ${r.keylog.dir} (WIRESHARK_CONFIG_DIR=${r.keylog.dir} tshark -r FILE)`);
  if (p.geneve_cleartext > 0) {
    lines.push(
      `NOT ENCRYPTED: ${p.geneve_cleartext} cleartext Geneve packets crossed the underlay between nodes${cleartextContext(r)}. Anyone on the wire reads the pods' traffic, e.g.:`,
      ...r.cleartext_samples.slice(0, 5).map((s) => `  ${s}`),
    );
  } else if (p.esp === 0) {
    lines.push('NOT SHOWN ENCRYPTED: no ESP crossed the underlay while the pods talked (are the tunnels up? see `overlay-ipsec tunnels show`).');
  } else {
    lines.push('encrypted: every overlay packet between nodes was ESP (IKE for the key exchange), no cleartext Geneve — as in the seed\'s §5.1.');
  }
  return lines.join('\n') + '\n';
}
