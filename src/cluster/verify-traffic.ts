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

/** One (source, destination) pod for every ordered pair of nodes that have pods. */
export function podPairs(nodes: readonly NodePlan[]): PodPair[] {
  const withPods = nodes.filter((n) => n.pods.length > 0);
  const pairs: PodPair[] = [];
  for (const a of withPods) {
    for (const b of withPods) {
      if (a === b) continue;
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

/** `ping -c count` inside the source pod; never throws. */
export async function pingPair(p: PodPair, count: number, intervalS = 0.2, waitS = 2): Promise<PingResult> {
  const r = await run(['ip', 'netns', 'exec', p.from.netns, 'ping', '-n', '-q', '-c', String(count), '-i', String(intervalS), '-W', String(waitS), p.to.ip], { check: false, timeoutMs: (count * intervalS + waitS + 5) * 1000 });
  const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
  const rtt = /= [\d.]+\/([\d.]+)\//.exec(r.stdout);
  const sent = m ? Number(m[1]) : 0;
  const received = m ? Number(m[2]) : 0;
  return { ...p, sent, received, ok: received > 0, rttMs: rtt ? Number(rtt[1]) : null };
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
 * Keeps pods talking for `seconds`: every pair pings (5/s) and sends UDP (10/s) for the window.
 * Resolves with the ping results when the window is over.
 */
export async function generateTraffic(nodes: readonly NodePlan[], seconds: number): Promise<PingResult[]> {
  const pairs = podPairs(nodes);
  const count = Math.max(1, Math.floor(seconds * 5) - 2);
  const bySource = new Map<PodPlan, PodPlan[]>();
  for (const p of pairs) bySource.set(p.from, [...(bySource.get(p.from) ?? []), p.to]);
  const [pings] = await Promise.all([
    Promise.all(pairs.map((p) => pingPair(p, count))),
    Promise.all([...bySource].map(([from, to]) => udpFromPod(from, to, seconds))),
  ]);
  return pings;
}
