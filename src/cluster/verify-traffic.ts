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

/** UDP datagrams from the source pod to the destination pod's discard port; never throws. */
export async function udpBurst(p: PodPair, datagrams: number, size = 512): Promise<void> {
  const script = `
    const s = require('node:dgram').createSocket('udp4');
    const b = Buffer.alloc(${size}, 0x5a);
    let n = 0;
    const tick = () => { if (n++ >= ${datagrams}) { s.close(); return; } s.send(b, 9, ${JSON.stringify(p.to.ip)}, () => setTimeout(tick, 100)); };
    tick();`;
  await run(['ip', 'netns', 'exec', p.from.netns, process.execPath, '-e', script], { check: false, timeoutMs: 30_000 });
}

/**
 * Keeps pods talking for `seconds`: every pair pings (5/s) for the window and sends a UDP burst.
 * Resolves with the ping results when the window is over.
 */
export async function generateTraffic(nodes: readonly NodePlan[], seconds: number): Promise<PingResult[]> {
  const pairs = podPairs(nodes);
  const count = Math.max(1, Math.floor(seconds * 5) - 2);
  const [pings] = await Promise.all([
    Promise.all(pairs.map((p) => pingPair(p, count))),
    Promise.all(pairs.map((p) => udpBurst(p, Math.max(1, Math.floor(seconds * 10))))),
  ]);
  return pings;
}
