import { mkdir, chmod } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { cidrOf, cidrSize, formatIpv4 } from '../wire/address.js';
import { memberCertFiles } from '../pki/etcd-admin.js';
import { ipBatch, run } from './run.js';
import { underlayPortName } from './names.js';
import { spawnDaemon, type Daemon } from './up-processes.js';

/**
 * The local cluster's etcd: N members, each in its own namespace `<prefix>-etcd<i>` on the
 * underlay switch (like a node: a veth into the underlay bridge, an address on the underlay
 * network), so node ↔ etcd traffic crosses the same wire the nodes use and `verify` sees it.
 * Every member speaks TLS to clients and to its peers, checks client certificates against the
 * etcd CA (`--client-cert-auth`; with auth enabled the CN is the user) and keeps its data under
 * the state directory. The underlay namespace gets an address too: the administrator's bootstrap
 * and the operator run there and reach the members through the bridge.
 */

export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
/** Underlay host numbers: members from .241 up, the administrator/operator address .250. */
const FIRST_MEMBER_HOST = 241;
const ADMIN_HOST = 250;
export const MAX_ETCD_MEMBERS = 7;

export interface EtcdMemberPlan {
  name: string;
  netns: string;
  ip: string;
  /** Its underlay interface (in its namespace) and its port on the underlay bridge. */
  ifname: string;
  port: string;
  dataDir: string;
}

export interface EtcdPlan {
  members: EtcdMemberPlan[];
  /** The address on the underlay bridge that the operator and the bootstrap speak from. */
  adminIp: string;
  prefixLength: number;
}

function hostAddress(network: string, host: number): string {
  const c = cidrOf(network);
  if (host >= cidrSize(c) - 1) throw new Error(`underlay ${network} has no host .${host} for etcd`);
  return formatIpv4(c.base + host);
}

export function planEtcd(prefix: string, underlayNetwork: string, count: number, stateDir: string): EtcdPlan {
  if (!Number.isInteger(count) || count < 1 || count > MAX_ETCD_MEMBERS) throw new Error(`etcd members: ${count} is not in 1..${MAX_ETCD_MEMBERS}`);
  const members: EtcdMemberPlan[] = [];
  for (let i = 0; i < count; i++) {
    const name = `etcd${i}`;
    members.push({ name, netns: `${prefix}-${name}`, ip: hostAddress(underlayNetwork, FIRST_MEMBER_HOST + i), ifname: 'eth0', port: underlayPortName(name), dataDir: path.join(etcdDataDir(stateDir), name) });
  }
  return { members, adminIp: hostAddress(underlayNetwork, ADMIN_HOST), prefixLength: cidrOf(underlayNetwork).prefix };
}

export function etcdDataDir(stateDir: string): string {
  return path.join(stateDir, 'etcd');
}

/** Client endpoints, HOST:PORT. */
export function etcdEndpoints(p: EtcdPlan): string[] {
  return p.members.map((m) => `${m.ip}:${ETCD_CLIENT_PORT}`);
}

/** Addresses that are etcd's or the administrator's, never a node's: `up` checks its plan against them. */
export function etcdAddresses(p: EtcdPlan): string[] {
  return [...p.members.map((m) => m.ip), p.adminIp];
}

/** The member namespaces on the underlay bridge, and the administrator address on the bridge. */
export async function buildEtcdNamespaces(p: EtcdPlan, underlay: { netns: string; bridge: string; mtu: number }): Promise<void> {
  await ipBatch(null, p.members.map((m) => ['netns', 'add', m.netns]));
  await Promise.all(p.members.map((m) => run(['ip', 'netns', 'exec', m.netns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'])));
  await ipBatch(null, p.members.map((m) => ['link', 'add', m.ifname, 'netns', m.netns, 'type', 'veth', 'peer', 'name', m.port, 'netns', underlay.netns]));
  await Promise.all([
    ipBatch(underlay.netns, [
      ...p.members.map((m) => ['link', 'set', m.port, 'mtu', String(underlay.mtu), 'master', underlay.bridge, 'up']),
      ['addr', 'add', `${p.adminIp}/${p.prefixLength}`, 'dev', underlay.bridge],
    ]),
    ...p.members.map((m) => ipBatch(m.netns, [
      ['link', 'set', 'lo', 'up'],
      ['link', 'set', m.ifname, 'mtu', String(underlay.mtu), 'up'],
      ['addr', 'add', `${m.ip}/${p.prefixLength}`, 'dev', m.ifname],
    ])),
  ]);
}

export interface EtcdMemberArgs {
  name: string;
  dataDir: string;
  /** https://HOST:PORT this member serves clients and peers on. */
  clientUrl: string;
  peerUrl: string;
  /** NAME=PEER_URL of every member. */
  initialCluster: string[];
  token: string;
  /** The etcd admin directory: ca.pem and members/<name>.pem, members/<name>-key.pem. */
  adminDir: string;
}

/** etcd's command line for one member of a new cluster (TLS for clients and peers, client certificates required). */
export function etcdArgv(a: EtcdMemberArgs): string[] {
  const ca = path.join(a.adminDir, 'ca.pem');
  const f = memberCertFiles(a.adminDir, a.name);
  return [
    'etcd', '--name', a.name, '--data-dir', a.dataDir,
    '--listen-client-urls', a.clientUrl, '--advertise-client-urls', a.clientUrl,
    '--listen-peer-urls', a.peerUrl, '--initial-advertise-peer-urls', a.peerUrl,
    '--initial-cluster', a.initialCluster.join(','),
    '--initial-cluster-state', 'new', '--initial-cluster-token', a.token,
    '--client-cert-auth', '--trusted-ca-file', ca, '--cert-file', f.cert, '--key-file', f.key,
    '--peer-client-cert-auth', '--peer-trusted-ca-file', ca, '--peer-cert-file', f.cert, '--peer-key-file', f.key,
    '--logger', 'zap', '--log-outputs', 'stderr',
  ];
}

/** Starts every member (detached, by PID in its namespace); their logs go to `<logs>/<member>.log`. */
export async function startEtcdMembers(p: EtcdPlan, adminDir: string, logs: string): Promise<Array<Daemon & { member: string }>> {
  const token = `oi-${randomBytes(6).toString('hex')}`;
  const out: Array<Daemon & { member: string }> = [];
  for (const m of p.members) {
    await mkdir(m.dataDir, { recursive: true, mode: 0o700 });
    await chmod(m.dataDir, 0o700);
    const argv = etcdArgv({
      name: m.name, dataDir: m.dataDir, adminDir, token,
      clientUrl: `https://${m.ip}:${ETCD_CLIENT_PORT}`, peerUrl: `https://${m.ip}:${ETCD_PEER_PORT}`,
      initialCluster: p.members.map((x) => `${x.name}=https://${x.ip}:${ETCD_PEER_PORT}`),
    });
    const d = await spawnDaemon(m.netns, argv, path.join(logs, `${m.name}.log`));
    out.push({ ...d, member: m.name });
  }
  return out;
}
