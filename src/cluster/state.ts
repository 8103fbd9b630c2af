import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { defaultStateDir } from '../store/layout.js';
import { DEFAULT_PREFIX, TOPOLOGY_FILE } from './names.js';
import type { TopologyPlan } from './topology.js';

/**
 * What `overlay-ipsec up` built, recorded in the state directory as `cluster.json` so `down`,
 * `pods`, `verify`, `tunnels show --node` and `ipsec status --node` find it:
 *
 *   <state>/cluster.json      this record (ClusterState)
 *   <state>/topology.json     the plan and pod list (topology-file.ts)
 *   <state>/logs/             one log per daemon (operator.log, <node>.log)
 *   <state>/config/           the config files the operator was given (copies; --no-ipsec edits one)
 *   <state>/store/, operator/, nodes/<name>/   the operator's and the agents' own state
 *
 * The state directory defaults to /var/lib/overlay-ipsec (OI_STATE_DIR overrides), the same default
 * the operator and agents use, so the per-node commands find a node's control socket without flags.
 */

export const CLUSTER_STATE_FILE = 'cluster.json';
export const CLUSTER_STATE_VERSION = 1;

/** How each node's data path runs: the node agent, with IPsec or plain Geneve. */
export type NodeDaemonKind = 'agent';

export interface DaemonRecord {
  role: 'operator' | 'agent' | 'etcd';
  /** The node an agent runs for, or the etcd member's name. */
  node?: string;
  pid: number;
  /** The namespace the process runs in (its PID dies with `down` even if this record is stale). */
  netns: string;
  log: string;
}

export interface NodeRecord {
  name: string;
  role: string;
  netns: string;
  underlayIp: string;
  subnet: string;
  systemId: string;
}

export interface ClusterState {
  version: number;
  prefix: string;
  stateDir: string;
  /** True when the config asks for IPsec (ipsecConfig Full). */
  ipsec: boolean;
  daemon: NodeDaemonKind;
  configFiles: string[];
  createdAt: string;
  /** The `up` process that supervises the cluster, or null once it detached. */
  supervisorPid: number | null;
  /** Directories under the state dir that `up` made (and `down` removes). */
  ownedPaths: string[];
  daemons: DaemonRecord[];
  nodes: NodeRecord[];
  plan: TopologyPlan;
  /** With `up --store etcd`: where the members are (verify tells their traffic apart). */
  etcd?: EtcdRecord;
}

export interface EtcdRecord {
  members: { name: string; netns: string; ip: string }[];
  endpoints: string[];
  /** The underlay address the operator and the administrator's commands speak from. */
  adminIp: string;
  adminDir: string;
}

/** The state directory: the flag, else OI_STATE_DIR, else /var/lib/overlay-ipsec. */
export function resolveStateDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(flag ?? defaultStateDir(env));
}

/** The namespace prefix: a hidden flag, else OI_NETNS_PREFIX (tests), else `oi`. */
export function resolvePrefix(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.OI_NETNS_PREFIX ?? DEFAULT_PREFIX;
}

export function clusterStateFile(stateDir: string): string {
  return path.join(stateDir, CLUSTER_STATE_FILE);
}

export function topologyFile(stateDir: string): string {
  return path.join(stateDir, TOPOLOGY_FILE);
}

export function logsDir(stateDir: string): string {
  return path.join(stateDir, 'logs');
}

/** Writes the record atomically (write, then rename). */
export async function saveClusterState(state: ClusterState): Promise<void> {
  const file = clusterStateFile(state.stateDir);
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o644 });
  await rename(tmp, file);
}

export class NoClusterError extends Error {
  constructor(readonly stateDir: string) {
    super(`no local cluster recorded in ${stateDir} (start one with \`overlay-ipsec up\`, or pass --state-dir)`);
    this.name = 'NoClusterError';
  }
}

/** Reads the record; NoClusterError when there is none, a plain Error naming the file when it is damaged. */
export async function loadClusterState(stateDir: string): Promise<ClusterState> {
  const file = clusterStateFile(stateDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NoClusterError(stateDir);
    throw err;
  }
  let s: ClusterState;
  try {
    s = JSON.parse(text) as ClusterState;
  } catch (err) {
    throw new Error(`${file}: not JSON (${(err as Error).message}); remove it, or run \`overlay-ipsec down --prefix P\` to clean up by name`);
  }
  if (!s || typeof s !== 'object' || s.version !== CLUSTER_STATE_VERSION || typeof s.prefix !== 'string' || !s.plan || !Array.isArray(s.nodes) || !Array.isArray(s.daemons)) {
    throw new Error(`${file}: not a cluster record of version ${CLUSTER_STATE_VERSION}; remove it, or run \`overlay-ipsec down --prefix P\``);
  }
  return s;
}

/** The record, or undefined when there is none or it cannot be read (cleanup must go on regardless). */
export async function tryLoadClusterState(stateDir: string): Promise<ClusterState | undefined> {
  try {
    return await loadClusterState(stateDir);
  } catch {
    return undefined;
  }
}

/** Removes the record, the topology file and every path `up` made under the state dir. */
export async function removeClusterFiles(stateDir: string, ownedPaths: readonly string[]): Promise<void> {
  const root = path.resolve(stateDir);
  for (const p of ownedPaths) {
    const abs = path.resolve(root, p);
    // Only ever inside the state directory, and never the directory itself.
    if (abs === root || !abs.startsWith(root + path.sep)) continue;
    await rm(abs, { recursive: true, force: true });
  }
  await rm(topologyFile(stateDir), { force: true });
  await rm(clusterStateFile(stateDir), { force: true });
}
