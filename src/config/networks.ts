/**
 * The networks a config places — cluster, service, machine (underlay), OVN's join subnet — each
 * parsed with where it was written, and the check that none overlaps another (the cluster
 * networks not even each other), with messages naming both places.
 */
import type { Findings } from './diagnostics.js';
import { DEFAULT_SERVICE_NETWORK, OVN_JOIN_SUBNET, type ClusterNetworkEntry } from './network.js';
import { cidrOf, cidrsOverlap, cidrSize, formatCidr, parseCidr, type Cidr } from '../wire/address.js';

/** A CIDR together with where it was written, so overlap messages can name both places. */
export interface Placed {
  cidr: Cidr;
  file: string;
  key: string;
  role: string;
}

export function cidrAt(f: Findings, file: string, key: string, v: unknown): Cidr | undefined {
  const r = parseCidr(v);
  if (r.ok) return r.cidr;
  f.error(file, key, r.problem, r.canonical ? `use ${r.canonical}` : 'write it as address/prefix, e.g. 10.128.0.0/14');
  return undefined;
}

export function clusterEntries(
  f: Findings,
  file: string,
  base: string,
  list: { cidr: unknown; hostPrefix?: number | undefined }[],
  placed: Placed[],
): ClusterNetworkEntry[] {
  const out: ClusterNetworkEntry[] = [];
  list.forEach((e, i) => {
    const key = `${base}[${i}]`;
    const c = cidrAt(f, file, `${key}.cidr`, e.cidr);
    if (e.hostPrefix === undefined) {
      f.error(file, `${key}.hostPrefix`, 'missing: every cluster network needs the size of the per-node subnet', `add hostPrefix, e.g. ${c ? Math.min(c.prefix + 8, 24) : 23}`);
      return;
    }
    if (!c) return;
    const hp = e.hostPrefix;
    if (hp < c.prefix) {
      f.error(file, `${key}.hostPrefix`, `/${hp} is larger than the cluster network ${formatCidr(c)} itself`, `use a hostPrefix between ${c.prefix} and 29, e.g. ${Math.min(c.prefix + 8, 24)}`);
      return;
    }
    if (hp > 29) {
      f.error(file, `${key}.hostPrefix`, `/${hp} leaves a node fewer than 8 addresses (gateway, management port and pods need more)`, 'use a hostPrefix of at most 29; OpenShift uses 23');
      return;
    }
    placed.push({ cidr: c, file, key: `${key}.cidr`, role: 'cluster network' });
    out.push({ cidr: formatCidr(c), hostPrefix: hp });
  });
  return out;
}

export function servicesAt(f: Findings, file: string, key: string, list: unknown[], placed: Placed[]): string[] {
  const out: string[] = [];
  if (list.length === 0) f.error(file, key, 'empty list', 'give one service CIDR, e.g. 172.30.0.0/16');
  list.forEach((v, i) => {
    const c = cidrAt(f, file, `${key}[${i}]`, v);
    if (!c) return;
    if (c.prefix > 24) f.warn(file, `${key}[${i}]`, `${formatCidr(c)} holds only ${cidrSize(c)} service addresses`, 'a /16 is usual');
    placed.push({ cidr: c, file, key: `${key}[${i}]`, role: 'service network' });
    out.push(formatCidr(c));
  });
  if (out.length > 1) f.error(file, key, `${out.length} IPv4 service networks`, 'give exactly one');
  return out;
}

/** A machine (underlay) network: checked, placed for the overlap check, listed once. `flagText`: given by --underlay-cidr. */
export function placeUnderlay(f: Findings, file: string, key: string, v: unknown, placed: Placed[], machineNetwork: string[], flagText?: string): void {
  const c = cidrAt(f, file, key, v);
  if (!c) return;
  placed.push(flagText === undefined
    ? { cidr: c, file, key, role: 'machine (underlay) network' }
    : { cidr: c, file, key: flagText, role: 'underlay network' });
  if (!machineNetwork.includes(formatCidr(c))) machineNetwork.push(formatCidr(c));
}

/** Adds the defaults the files left out and OVN's join subnet, then reports every overlap. */
export function checkOverlaps(f: Findings, placed: Placed[], clusterNetwork: readonly ClusterNetworkEntry[], defaultsFile: string): void {
  if (!placed.some((p) => p.role === 'cluster network'))
    for (const [i, e] of clusterNetwork.entries()) placed.push({ cidr: cidrOf(e.cidr), file: defaultsFile, key: `(default clusterNetwork[${i}] ${e.cidr})`, role: 'cluster network' });
  if (!placed.some((p) => p.role === 'service network'))
    placed.push({ cidr: cidrOf(DEFAULT_SERVICE_NETWORK), file: defaultsFile, key: `(default serviceNetwork ${DEFAULT_SERVICE_NETWORK})`, role: 'service network' });
  placed.push({ cidr: cidrOf(OVN_JOIN_SUBNET), file: '', key: '', role: 'OVN join network' });
  for (let i = 0; i < placed.length; i++)
    for (let j = i + 1; j < placed.length; j++) {
      const a = placed[i]!;
      const b = placed[j]!;
      if (a.role === b.role && a.role !== 'cluster network') continue;
      if (a.role.includes('underlay') && b.role.includes('underlay')) continue;
      if (!cidrsOverlap(a.cidr, b.cidr)) continue;
      if (b.role === 'OVN join network') {
        f.error(a.file, a.key, `${a.role} ${formatCidr(a.cidr)} overlaps OVN's internal join network ${OVN_JOIN_SUBNET}`, `choose a range outside ${OVN_JOIN_SUBNET}`);
        continue;
      }
      f.error(b.file, b.key, `${b.role} ${formatCidr(b.cidr)} overlaps ${a.role} ${formatCidr(a.cidr)} (${a.file === b.file ? a.key : `${a.file} ${a.key}`})`, `choose a range for the ${b.role} that does not overlap ${formatCidr(a.cidr)}`);
    }
}
