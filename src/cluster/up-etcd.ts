import { chmod, mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { initEtcdAdmin } from '../pki/etcd-admin.js';
import { nodeDir } from '../store/layout.js';
import { forEachLimited } from '../util/limited.js';
import { OperationFailed, UsageError } from '../util/errors.js';
import { buildEtcdNamespaces, etcdAddresses, etcdEndpoints, planEtcd, startEtcdMembers, type EtcdPlan } from './etcd-members.js';
import { CommandFailed, run } from './run.js';
import type { DaemonRecord } from './state.js';
import type { TopologyPlan } from './topology.js';
import { logTail } from './up-processes.js';
import { pidAlive } from '../util/pid.js';

/**
 * `up --store etcd`: the cluster's control plane on N etcd members, set up the way an
 * administrator would on real machines, with the product's own commands: `etcd init` (etcd CA,
 * root and member certificates), the members started in their namespaces, `etcd bootstrap`
 * (operator user, auth on; the operator's credentials file) and one `node join-file` per node.
 * The administrator's commands run in the underlay namespace, which reaches the members over the
 * underlay switch. Each node gets a state directory of its own, `<state>/hosts/<node>/`, holding
 * only its join file until its agent makes its own files there; no other node is given its path.
 * `<state>/nodes/<node>` points into it so the per-node commands (`tunnels show --node`, …) find
 * the agent's socket as before.
 */

/** The cluster name (key prefix /overlay-ipsec/default) of the local cluster's etcd. */
export const LOCAL_CLUSTER = 'default';
export const ETCD_ADMIN_DIR = 'etcd-admin';
export const HOSTS_DIR = 'hosts';
/** The operator's credentials file under the state directory. */
export const OPERATOR_CREDENTIALS = path.join('operator-etcd', 'credentials.json');

export interface ClusterEtcd {
  plan: EtcdPlan;
  endpoints: string[];
  adminDir: string;
  operatorCredentials: string;
  /** Per node: its own state directory and the join file in it. */
  hosts: Map<string, { stateDir: string; joinFile: string }>;
}

export function hostStateDir(stateDir: string, node: string): string {
  return path.join(stateDir, HOSTS_DIR, node);
}

export function joinFileOf(hostDir: string): string {
  return path.join(hostDir, 'join.json');
}

/** Runs an administrator command of ours in the underlay namespace; its complaint ('' when it succeeded). */
async function adminCommand(main: string, netns: string, args: string[]): Promise<string> {
  try {
    // grpc warns that an IP address cannot be a TLS server name (it is checked against the IP SANs anyway).
    await run(['ip', 'netns', 'exec', netns, process.execPath, '--no-deprecation', main, ...args], { timeoutMs: 60_000 });
    return '';
  } catch (err) {
    if (err instanceof CommandFailed) return err.stderr.trim() || `exit ${err.code}`;
    throw err;
  }
}

async function retryAdmin(main: string, netns: string, args: string[], timeoutMs: number, members: DaemonRecord[]): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const err = await adminCommand(main, netns, args);
    if (!err) return;
    const dead = members.filter((m) => !pidAlive(m.pid));
    if (dead.length) throw new OperationFailed(`etcd member ${dead[0]!.node} (pid ${dead[0]!.pid}) exited; ${dead[0]!.log} ends with:\n${await logTail(dead[0]!.log)}`);
    if (Date.now() > deadline) throw new OperationFailed(`overlay-ipsec ${args.slice(0, 2).join(' ')} did not succeed within ${Math.round(timeoutMs / 1000)} s: ${err}`);
    await new Promise((res) => setTimeout(res, 500));
  }
}

/**
 * Builds and starts the etcd members on the built underlay, bootstraps auth and hands out the
 * credentials. `record` is called with each member's process as soon as it exists.
 */
export async function startClusterEtcd(
  o: { main: string; stateDir: string; topology: TopologyPlan; members: number; logs: string },
  record: (d: DaemonRecord) => Promise<void>,
  say: (line: string) => void,
): Promise<ClusterEtcd> {
  const t = o.topology;
  const plan = planEtcd(t.prefix, t.underlay.network, o.members, o.stateDir);
  const taken = new Set(t.nodes.map((n) => n.underlayIp));
  const clash = etcdAddresses(plan).find((a) => taken.has(a));
  if (clash) throw new UsageError(`the underlay address ${clash} is planned for both a node and etcd; use fewer nodes`);
  const endpoints = etcdEndpoints(plan);
  const adminDir = path.join(o.stateDir, ETCD_ADMIN_DIR);
  await initEtcdAdmin(adminDir, { cluster: LOCAL_CLUSTER, prefix: `/overlay-ipsec/${LOCAL_CLUSTER}`, endpoints }, plan.members.map((m) => ({ name: m.name, ips: [m.ip] })));
  say('etcd CA, root and member certificates');

  await buildEtcdNamespaces(plan, t.underlay);
  const started = await startEtcdMembers(plan, adminDir, o.logs);
  const records: DaemonRecord[] = [];
  for (const d of started) {
    const r: DaemonRecord = { role: 'etcd', node: d.member, pid: d.pid, netns: d.netns, log: d.log };
    records.push(r);
    await record(r);
  }
  say(`${plan.members.length} members started (${endpoints.join(', ')})`);

  const operatorCredentials = path.join(o.stateDir, OPERATOR_CREDENTIALS);
  await mkdir(path.dirname(operatorCredentials), { recursive: true, mode: 0o700 });
  await retryAdmin(o.main, t.underlay.netns, ['etcd', 'bootstrap', '--admin-dir', adminDir, '--operator-out', operatorCredentials, '--force'], 60_000, records);
  say('auth enabled; operator credentials made');

  const hosts = new Map<string, { stateDir: string; joinFile: string }>();
  await forEachLimited(t.nodes, 3, async (n) => {
    const dir = hostStateDir(o.stateDir, n.name);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    const joinFile = joinFileOf(dir);
    const err = await adminCommand(o.main, t.underlay.netns, ['node', 'join-file', '--node', n.name, '--out', joinFile, '--admin-dir', adminDir, '--force']);
    if (err) throw new OperationFailed(`join file for ${n.name}: ${err}`);
    // The agent's own directory inside the host directory, reachable by the usual path.
    await mkdir(nodeDir(dir, n.name), { recursive: true, mode: 0o700 });
    await mkdir(path.dirname(nodeDir(o.stateDir, n.name)), { recursive: true });
    await symlink(path.relative(path.dirname(nodeDir(o.stateDir, n.name)), nodeDir(dir, n.name)), nodeDir(o.stateDir, n.name));
    hosts.set(n.name, { stateDir: dir, joinFile });
  });
  say(`${hosts.size} join files`);
  return { plan, endpoints, adminDir, operatorCredentials, hosts };
}
