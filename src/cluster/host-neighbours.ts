import { readFile, writeFile } from 'node:fs/promises';

/**
 * The host's IPv4 neighbour (ARP) table and the local cluster. Linux keeps one neighbour table for
 * all network namespaces, with one set of limits (net.ipv4.neigh.default.gc_thresh1/2/3, visible
 * and writable only in the host's namespace): above gc_thresh3 entries (1024 by default) a new
 * entry cannot be made, and the packet that needed it is dropped with ENOBUFS — which a UDP socket
 * without IP_RECVERR does not even report (the kernel counts it as UdpSndbufErrors). Between
 * gc_thresh2 and gc_thresh3, entries unused for 5 s are collected and must be resolved again.
 *
 * A cluster of n nodes on one machine needs n·(n−1) entries for the underlay mesh alone (each node
 * resolves every other), plus two per pod (pod → its gateway, node → pod): 2,500 at 50 nodes,
 * 10,000 at 100. On real machines each node has its own table and none of this applies.
 */

const DIR = '/proc/sys/net/ipv4/neigh/default';
/** The kernel's table summary: its first column is the number of entries, in hex, all namespaces together. */
const STATS = '/proc/net/stat/arp_cache';
/** Room for everything else on the host (other clusters, the host's own neighbours). */
const HEADROOM = 1024;

export interface NeighbourLimits {
  gcThresh2: number;
  gcThresh3: number;
}

/** Neighbour entries a cluster of `nodes` nodes and `pods` pods uses (see above). */
export function neighboursNeeded(nodes: number, pods: number): number {
  return nodes * (nodes - 1) + 2 * pods;
}

/**
 * The limits to set so that `needed` more entries fit beside the `inUse` the table holds, with
 * none of them collected while in use; undefined when `current` already allows it. Limits are only
 * ever raised (another cluster on the host may rely on them), to a multiple of 1024.
 */
export function limitsFor(current: NeighbourLimits, inUse: number, needed: number): NeighbourLimits | undefined {
  const roundUp = (n: number): number => Math.ceil(n / 1024) * 1024;
  const thresh2 = roundUp(inUse + needed + HEADROOM);
  if (current.gcThresh2 >= thresh2 && current.gcThresh3 >= thresh2) return undefined;
  const gcThresh2 = Math.max(current.gcThresh2, thresh2);
  return { gcThresh2, gcThresh3: Math.max(current.gcThresh3, 2 * gcThresh2) };
}

/** The number of entries in the host's neighbour table (all namespaces), from the kernel's summary. */
export function parseTableEntries(arpCache: string): number | undefined {
  const row = arpCache.split('\n')[1]?.trim().split(/\s+/)[0];
  const n = row === undefined ? NaN : parseInt(row, 16);
  return Number.isFinite(n) ? n : undefined;
}

export type NeighbourOutcome =
  | { kind: 'enough'; limits: NeighbourLimits }
  | { kind: 'raised'; from: NeighbourLimits; to: NeighbourLimits }
  | { kind: 'unknown'; why: string };

/**
 * Makes room in the host's neighbour table for a cluster (raising gc_thresh2/3 when it must).
 * Never throws: a host whose limits cannot be read or written (run in a container's namespace,
 * say) gets a warning from the caller naming the setting, and `up` goes on.
 */
export async function ensureNeighbourRoom(nodes: number, pods: number): Promise<NeighbourOutcome> {
  const read = async (name: string): Promise<number> => Number((await readFile(`${DIR}/${name}`, 'utf8')).trim());
  let current: NeighbourLimits;
  let inUse: number;
  try {
    current = { gcThresh2: await read('gc_thresh2'), gcThresh3: await read('gc_thresh3') };
    inUse = parseTableEntries(await readFile(STATS, 'utf8')) ?? 0;
  } catch (e) {
    return { kind: 'unknown', why: `cannot read ${DIR}/gc_thresh2 and gc_thresh3 (${(e as Error).message})` };
  }
  const to = limitsFor(current, inUse, neighboursNeeded(nodes, pods));
  if (!to) return { kind: 'enough', limits: current };
  try {
    // gc_thresh3 first: the kernel does not check their order, but a reader of the two should never see 2 > 3.
    await writeFile(`${DIR}/gc_thresh3`, String(to.gcThresh3));
    await writeFile(`${DIR}/gc_thresh2`, String(to.gcThresh2));
  } catch (e) {
    return { kind: 'unknown', why: `cannot raise ${DIR}/gc_thresh2 to ${to.gcThresh2} and gc_thresh3 to ${to.gcThresh3} (${(e as Error).message})` };
  }
  return { kind: 'raised', from: current, to };
}
