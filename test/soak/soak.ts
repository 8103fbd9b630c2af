// `npm run soak`: the zero-loss and fault scenarios of the test suite, round after round, for as
// long as asked (--seconds N, default 300), on a two-node netns cluster under two sequence-numbered
// streams (one each way). Prints one line per scenario run and a table per scenario: how many
// datagrams were sent while it ran (tried), how many never arrived (lost), the longest silence.
// Key changes must lose nothing (exit 1 otherwise); faults (agent kill -9, peer reboot) are
// expected to lose what was sent while a node was down, and report it.
import { IPSEC_CONFIGS, agentState, inNs, killHard, startAgent, startCluster, statusOf, stopCluster, waitReady, type Cluster } from '../helpers/agent-cluster.js';
import { waitFor } from '../helpers/netns.js';
import { SeqStream } from '../helpers/seq-stream.js';
import { caRollover, certRotation, childRekey, ikeRekey } from '../helpers/key-change.js';

const PREFIX = 'oif-sk';

interface Tally { runs: number; tried: number; lost: number; unknownSpi: number; otherDrops: number; kernelDrops: number; worstMs: number }

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const seconds = arg('--seconds', Number(process.env.SOAK_SECONDS ?? 300));
const pps = arg('--pps', 1500);

/**
 * One agent's counters, with the PID they belong to: a restarted agent counts from 0 again, and
 * so does its pod TUN (made anew by the new process).
 */
interface AgentCounts { pid: number | undefined; unknownSpi: number; other: number; tunDrops: number }

/**
 * Per node: ESP refused as unknown_spi, and the agent's other drops — outbound drops, TUN write
 * errors, UDP send drops.
 */
async function agentCounts(c: Cluster): Promise<Map<string, AgentCounts>> {
  const out = new Map<string, AgentCounts>();
  for (const node of c.plan.nodes) {
    const st = await statusOf(c, node.name);
    out.set(node.name, {
      pid: agentState(c, node.name)?.pid,
      unknownSpi: st.drops.unknown_spi,
      other: Object.values(st.outbound_drops).reduce((x, y) => x + y, 0) + st.tun.write_errors + (st.udp.send_drops ?? 0),
      tunDrops: tunDrops(node.netns),
    });
  }
  return out;
}

/**
 * What the agents counted between two snapshots. An agent restarted meanwhile counts from 0, so
 * all it counted since its start is taken (what it counted between the first snapshot and its
 * kill died with it: a few milliseconds).
 */
function countedBetween(before: Map<string, AgentCounts>, after: Map<string, AgentCounts>, k: 'unknownSpi' | 'other' | 'tunDrops'): number {
  let n = 0;
  for (const [node, a] of after) {
    const b = before.get(node);
    n += a[k] - (b && b.pid === a.pid ? b[k] : 0);
  }
  return n;
}

/** The kernel's drops on a node's pod TUN: its queue overflowed while the agent did not read it. */
function tunDrops(netns: string): number {
  const link = inNs(netns, ['ip', '-s', '-o', 'link', 'show', 'ovn-k8s-tun0']).stdout;
  const m = /TX:[^0-9]*\d+\s+\d+\s+\d+\s+(\d+)/.exec(link.replace(/\\/g, ' '));
  return m ? Number(m[1]) : 0;
}

/** UDP receive errors (no room in a socket's buffer), summed over the nodes and pods: namespace counters, kept across agent restarts. */
function udpErrors(c: Cluster): number {
  let n = 0;
  for (const node of c.plan.nodes) {
    for (const ns of [node.netns, ...node.pods.map((p) => p.netns)]) {
      const snmp = inNs(ns, ['cat', '/proc/net/snmp']).stdout.split('\n').filter((l) => l.startsWith('Udp:')).map((l) => l.split(/\s+/));
      if (snmp.length === 2) n += Number(snmp[1]![snmp[0]!.indexOf('InErrors')]);
    }
  }
  return n;
}

async function main(): Promise<void> {
  const c = await startCluster({ prefix: PREFIX, configs: IPSEC_CONFIGS, masters: 1, workers: 1, agentEnv: { OI_CLOCK_OFFSET: '0' } });
  const streams: SeqStream[] = [];
  const tallies = new Map<string, Tally>();
  let failed = false;
  try {
    await waitReady(c);
    const [a, b] = c.plan.nodes as [typeof c.plan.nodes[0], typeof c.plan.nodes[0]];
    streams.push(await SeqStream.start(a.pods[0]!, b.pods[0]!, pps), await SeqStream.start(b.pods[1]!, a.pods[1]!, pps, 7998));
    for (const s of streams) await s.flowing();
    const end = Date.now() + seconds * 1000;
    const snap = (): { max: number; missing: number } => streams.reduce((x, s) => ({ max: x.max + (s.report?.max ?? 0), missing: x.missing + (s.report?.missing ?? 0) }), { max: 0, missing: 0 });
    const run = async (name: string, lossless: boolean, fn: () => Promise<void>): Promise<void> => {
      const before = snap();
      const counts0 = await agentCounts(c);
      const udp0 = udpErrors(c);
      const t0 = Date.now();
      await fn();
      for (const s of streams) await s.flowing(300, 60_000);
      const after = snap();
      const tally = tallies.get(name) ?? { runs: 0, tried: 0, lost: 0, unknownSpi: 0, otherDrops: 0, kernelDrops: 0, worstMs: 0 };
      const lost = after.missing - before.missing;
      const counts1 = await agentCounts(c);
      const spi = countedBetween(counts0, counts1, 'unknownSpi');
      const other = countedBetween(counts0, counts1, 'other');
      const kernel = countedBetween(counts0, counts1, 'tunDrops') + udpErrors(c) - udp0;
      tally.runs++;
      tally.tried += after.max - before.max;
      tally.lost += lost;
      tally.unknownSpi += spi;
      tally.otherDrops += other;
      tally.kernelDrops += kernel;
      tally.worstMs = Math.max(tally.worstMs, Date.now() - t0);
      tallies.set(name, tally);
      if (lossless && (lost > 0 || spi > 0)) failed = true;
      process.stdout.write(`${new Date().toISOString()} ${name}: ${Date.now() - t0} ms, tried ${after.max - before.max}, lost ${lost}, unknown_spi ${spi}, other agent drops ${other}, kernel drops ${kernel}\n`);
    };
    let round = 0;
    const days = (d: number): string => `${d}d`;
    while (Date.now() < end) {
      // Each round moves the certificate clock 9 years (and 8 days) on: a node rotation at 4.5
      // years (and 8 days, past the renewal jitter), a CA rollover at the end.
      const base = 3296 * round;
      await run('child rekey', true, () => childRekey(c, round % 2 ? a.name : b.name));
      await run('IKE rekey', true, () => ikeRekey(c, round % 2 ? b.name : a.name));
      await run('node certificate rotation (4.5 y)', true, () => certRotation(c, days(base + 1652)));
      await run('CA rollover (9 y)', true, () => caRollover(c, days(base + 3296)));
      // The pair's initiator is the node with the lower system-id; the victim alternates.
      const victim = c.plan.nodes[round % 2]!;
      const other = c.plan.nodes[1 - (round % 2)]!;
      const role = agentState(c, victim.name)!.system_id! < agentState(c, other.name)!.system_id! ? 'initiator' : 'responder';
      await run(`agent kill -9 and restart, ${role}`, false, async () => {
        await killHard(c.agents.get(victim.name)!);
        const p = startAgent(c, victim.name, { tag: `${victim.name}-r${round}`, env: { OI_CLOCK_OFFSET: days(base + 3296) } });
        await waitFor(() => agentState(c, victim.name)?.pid === p.pid && agentState(c, victim.name)?.ready === true, 'the restarted agent ready', 60_000, 200);
      });
      round++;
    }
  } finally {
    for (const s of streams) await s.stop().catch(() => s.kill());
    await stopCluster(c);
  }
  process.stdout.write('\nscenario                               runs      tried    lost  unknown_spi  other agent drops  kernel drops  worst ms\n');
  for (const [name, t] of tallies) {
    process.stdout.write(`${name.padEnd(38)} ${String(t.runs).padStart(4)} ${String(t.tried).padStart(10)} ${String(t.lost).padStart(7)} ${String(t.unknownSpi).padStart(12)} ${String(t.otherDrops).padStart(18)} ${String(t.kernelDrops).padStart(13)} ${String(t.worstMs).padStart(9)}\n`);
  }
  process.stdout.write(`(${pps} pps each way; key changes must lose nothing${failed ? ': SOME DID' : ''})\n`);
  process.exit(failed ? 1 : 0);
}

main().catch((err: Error) => {
  process.stderr.write(`soak: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
