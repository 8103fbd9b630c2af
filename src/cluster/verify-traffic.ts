import type { NodePlan, PodPlan } from './topology.js';
import { run } from './run.js';

/**
 * Pod traffic between nodes, for `verify`'s capture window and `up`'s pod-to-pod check: from one
 * pod on each node to one pod on every other node, ICMP echo and UDP datagrams.
 */

export interface PodPair {
  from: PodPlan;
  to: PodPlan;
}

/**
 * One (source, destination) pod for every ordered pair of nodes that have pods; with `perSource`,
 * only the next `perSource` nodes after each source in plan order (a ring): every node still sends
 * to and receives from that many others, for a traffic window whose cost must not grow with
 * nodes × nodes.
 */
export function podPairs(nodes: readonly NodePlan[], perSource = Infinity): PodPair[] {
  const withPods = nodes.filter((n) => n.pods.length > 0);
  const n = withPods.length;
  const pairs: PodPair[] = [];
  for (const [i, a] of withPods.entries()) {
    for (const [j, b] of withPods.entries()) {
      if (a === b || (j - i + n) % n > perSource) continue;
      // A different destination pod per source spreads the check over the pods of a node.
      const to = b.pods[withPods.indexOf(a) % b.pods.length]!;
      pairs.push({ from: a.pods[0]!, to });
    }
  }
  return pairs;
}

export interface PingResult extends PodPair {
  sent: number;
  received: number;
  ok: boolean;
  rttMs: number | null;
}

/**
 * The shell run inside a source pod: one `ping` per destination, all at once, each into a file of
 * its own, then one line per destination "<ip> <its output folded onto the line>". One process
 * started per ping and none per line: at 100 nodes the check starts 9,900 pings. The shell is
 * /bin/sh and the system's directories follow the caller's PATH, so mktemp and rm are found
 * whatever PATH `up` was given (ping still comes from the caller's PATH first).
 */
export const PING_ALL = 'PATH="$PATH:/usr/bin:/bin"; export PATH; set -f; c=$1; i=$2; w=$3; shift 3; d=$(mktemp -d) || exit 1; ' +
  'for ip do ping -n -q -c "$c" -i "$i" -w "$w" "$ip" > "$d/$ip" 2>&1 & done; wait; ' +
  'for ip do printf %s "$ip"; while IFS= read -r l; do printf \' %s\' "$l"; done < "$d/$ip"; echo; done; rm -rf "$d"';

/** The command that pings `ips` at once (ping's deadline takes whole seconds: rounded up). */
export function pingAllArgv(count: number, intervalS: number, deadlineS: number, ips: readonly string[]): string[] {
  return ['/bin/sh', '-c', PING_ALL, 'sh', String(count), String(intervalS), String(Math.ceil(deadlineS)), ...ips];
}

/** Per destination address, what its ping line says: packets sent and received, the average RTT. */
export function parsePingLines(stdout: string): Map<string, { sent: number; received: number; rttMs: number | null }> {
  const out = new Map<string, { sent: number; received: number; rttMs: number | null }>();
  for (const line of stdout.split('\n')) {
    const ip = line.split(' ', 1)[0]!;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(line);
    if (!ip || !m) continue;
    const rtt = /= [\d.]+\/([\d.]+)\//.exec(line);
    out.set(ip, { sent: Number(m[1]), received: Number(m[2]), rttMs: rtt ? Number(rtt[1]) : null });
  }
  return out;
}

/**
 * Pings from one source pod to each of `pairs`' destinations, in parallel, in one process started
 * in the pod's namespace (a process per pair, each entering the namespace, cost more than the
 * pings at 100 nodes): each ping ends after `count` answers, or at `deadlineS`, sending every
 * `intervalS`. Never throws; a destination without a line did not answer.
 */
export async function pingFromPod(from: PodPlan, pairs: readonly PodPair[], count: number, intervalS: number, deadlineS: number): Promise<PingResult[]> {
  const r = await run(['ip', 'netns', 'exec', from.netns, ...pingAllArgv(count, intervalS, deadlineS, pairs.map((p) => p.to.ip))],
    { check: false, timeoutMs: (deadlineS + 30) * 1000 });
  const byIp = parsePingLines(r.stdout);
  return pairs.map((p) => {
    const x = byIp.get(p.to.ip);
    return { ...p, sent: x?.sent ?? 0, received: x?.received ?? 0, ok: (x?.received ?? 0) > 0, rttMs: x?.rttMs ?? null };
  });
}

/** The pairs by source pod, in the order the sources first appear. */
export function bySource(pairs: readonly PodPair[]): PodPair[][] {
  const m = new Map<PodPlan, PodPair[]>();
  for (const p of pairs) {
    const list = m.get(p.from);
    if (list) list.push(p);
    else m.set(p.from, [p]);
  }
  return [...m.values()];
}

/**
 * UDP datagrams, 10 a second for `seconds`, from one pod to each of `targets` (their discard
 * port): one process per source pod, not per pair, so a big cluster does not fork hundreds of
 * processes on a small machine. Never throws.
 */
export async function udpFromPod(from: PodPlan, targets: readonly PodPlan[], seconds: number, size = 512): Promise<void> {
  const script = `
    const s = require('node:dgram').createSocket('udp4');
    const b = Buffer.alloc(${size}, 0x5a);
    const to = ${JSON.stringify(targets.map((t) => t.ip))};
    let n = 0;
    const t = setInterval(() => {
      for (const ip of to) s.send(b, 9, ip, () => {});
      if (++n >= ${Math.max(1, Math.round(seconds * 10))}) { clearInterval(t); setTimeout(() => s.close(), 50); }
    }, 100);`;
  await run(['ip', 'netns', 'exec', from.netns, process.execPath, '-e', script], { check: false, timeoutMs: (seconds + 15) * 1000 });
}

/**
 * Keeps pods talking for `seconds`: every pair (or `perSource` destinations per source pod, see
 * podPairs) pings (5/s) and sends UDP (10/s) for the window.
 * Resolves with the ping results when the window is over.
 */
export async function generateTraffic(nodes: readonly NodePlan[], seconds: number, perSource = Infinity): Promise<PingResult[]> {
  const groups = bySource(podPairs(nodes, perSource));
  const count = Math.max(1, Math.floor(seconds * 5) - 2);
  const [pings] = await Promise.all([
    Promise.all(groups.map((g) => pingFromPod(g[0]!.from, g, count, 0.2, count * 0.2 + 2))),
    Promise.all(groups.map((g) => udpFromPod(g[0]!.from, g.map((p) => p.to), seconds))),
  ]);
  return pings.flat();
}
