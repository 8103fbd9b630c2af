import type { Store } from '../store/store.js';
import type { LivenessDoc } from '../store/etcd-liveness.js';
import { readAgentStateFile } from './agent-state-file.js';
import { textTable } from '../util/text-table.js';
import { pidAlive } from '../util/pid.js';

/** One row of `overlay-ipsec nodes`: what the control plane knows of a node. */
export interface NodeRow {
  node: string;
  system_id: string;
  underlay_ip: string | null;
  registered_at: string;
  subnet: string | null;
  /** The certificate the operator issued (serial, end), and whether the node reports presenting it. */
  certificate: { serial: string; not_after: string; presented: boolean } | null;
  csr: 'pending' | 'approved' | 'denied' | null;
  /** connected: the node holds the control plane now (its liveness lease, or its running agent says so). */
  control_plane: 'connected' | 'unreachable';
  /** Since when it is connected, or (when known) unreachable. */
  since: string | null;
}

/** Where a node's control-plane liveness is read from: etcd leases, or the agents' state files. */
export type LivenessSource = (node: string) => Promise<{ connected: boolean; since: string | null }>;

/** Liveness from etcd: a node is connected while its lease-bound key exists (since the lease was granted). */
export function leaseLiveness(keys: Map<string, LivenessDoc>): LivenessSource {
  return (node) => {
    const k = keys.get(node);
    return Promise.resolve(k ? { connected: true, since: k.since } : { connected: false, since: null });
  };
}

/**
 * Liveness with the directory store (one machine): what each node's running agent says about
 * its store in `<state>/nodes/<node>/agent.json`; a node whose agent is not running is unreachable.
 */
export function agentFileLiveness(stateDir: string): LivenessSource {
  return async (node) => {
    const st = await readAgentStateFile(stateDir, node);
    if (!st) return { connected: false, since: null };
    const running = st.phase !== 'stopped' && pidAlive(st.pid);
    const cp = st.control_plane;
    if (!running) return { connected: false, since: st.updated_at };
    return { connected: cp ? cp.state === 'connected' : true, since: cp?.since ?? null };
  };
}

export async function nodeRows(store: Store, liveness: LivenessSource): Promise<NodeRow[]> {
  const [nodes, subnets, certs, csrs] = await Promise.all([store.list('nodes'), store.list('subnets'), store.list('certificates'), store.list('csrs')]);
  const subnetOf = new Map(subnets.map((s) => [s.value.node, s.key]));
  const certOf = new Map(certs.map((c) => [c.key, c.value]));
  const csrOf = new Map(csrs.map((c) => [c.key, c.value.status]));
  const rows: NodeRow[] = [];
  for (const { key, value: n } of nodes) {
    const cert = certOf.get(key);
    const live = await liveness(key);
    rows.push({
      node: key,
      system_id: n.system_id,
      underlay_ip: n.underlay_ip ?? null,
      registered_at: n.registered_at,
      subnet: subnetOf.get(key) ?? null,
      certificate: cert ? { serial: cert.serial, not_after: cert.not_after, presented: n.cert_serial === cert.serial } : null,
      csr: csrOf.get(key) ?? null,
      control_plane: live.connected ? 'connected' : 'unreachable',
      since: live.since,
    });
  }
  return rows;
}

export function formatNodes(rows: NodeRow[]): string {
  if (rows.length === 0) return 'no nodes registered\n';
  const lost = rows.filter((r) => r.control_plane === 'unreachable');
  const head = `${rows.length} nodes, ${rows.length - lost.length} connected to the control plane${lost.length ? `; lost: ${lost.map((r) => r.node).join(', ')}` : ''}\n`;
  return head + textTable([
    ['NODE', 'SYSTEM-ID', 'UNDERLAY', 'SUBNET', 'CERTIFICATE', 'CONTROL PLANE', 'SINCE'],
    ...rows.map((r) => [
      r.node, r.system_id, r.underlay_ip ?? '-', r.subnet ?? '-',
      r.certificate ? `${r.certificate.serial.slice(0, 12)}… until ${r.certificate.not_after.slice(0, 10)}${r.certificate.presented ? '' : ' (not presented yet)'}` : r.csr ? `csr ${r.csr}` : '-',
      r.control_plane, r.since ?? '-',
    ]),
  ]);
}
