import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { teardownTopology } from '../../src/cluster/topology-netns.js';
import { ETCD_CLIENT_PORT } from '../../src/cluster/etcd-members.js';
import { agentState, ask, statusOf } from '../helpers/agent-cluster.js';
import { assertNoDrops, picture, samePictures, type SaPicture } from '../helpers/key-change.js';
import { waitFor } from '../helpers/netns.js';
import { SeqStream, type StreamResult } from '../helpers/seq-stream.js';
import { assertNothingLeft, cli, inNs, readState } from './up-helpers.js';
import { pidAlive } from '../../src/util/pid.js';

// Static stability on etcd, on the `up --store etcd` cluster (2 nodes, 3 members with TLS and
// auth), while pods stream 1000 pps each way through both nodes:
//  1. one node cut from every member for 60 s (nft in its namespace drops its TCP to the members'
//     client port): that node says "control plane unreachable since T" (the other stays connected),
//     its liveness key expires so the others see it lost, and nothing moves on the data path — the
//     same IKE SAs and child SPIs, 0 datagrams lost. After the heal it is connected again and puts a
//     new liveness key (a lease granted after the cut), still with the same SAs.
//  2. every member stopped (SIGSTOP) for 60 s: both nodes say unreachable, the same, and both are
//     back (connected, liveness held, keys present) after SIGCONT.

const PREFIX = 'oit-etcdp';
const P = '/overlay-ipsec/default';
const PPS = 1000;
const OUTAGE_MS = 60_000;
const CUT_TABLE = 'oit_etcd_cut';

test('etcd unreachable for 60 s (one node cut off, then every member stopped) under 1000 pps each way: 0 lost, the same SAs, status says unreachable, catch-up after', { timeout: 900_000 }, async (t) => {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'oit-etcdp-'));
  const streams: SeqStream[] = [];
  let stopped: number[] = [];
  t.after(async () => {
    for (const s of streams) s.kill();
    for (const pid of stopped) if (pidAlive(pid)) process.kill(pid, 'SIGCONT');
    cli(PREFIX, ['down', '--state-dir', stateDir]);
    await teardownTopology(PREFIX);
    rmSync(stateDir, { recursive: true, force: true });
  });

  const up = cli(PREFIX, ['up', '--store', 'etcd', '--masters', '1', '--workers', '1', '--detach', '--state-dir', stateDir], 420_000);
  assert.equal(up.status, 0, `up failed:\n${up.stdout}\n${up.stderr}`);
  const state = readState(stateDir);
  const etcd = state.etcd!;
  const members = state.daemons.filter((d) => d.role === 'etcd');
  assert.equal(members.length, 3);
  const pids = state.daemons.map((d) => d.pid);
  const names = state.nodes.map((n) => n.name);
  const [a, b] = state.plan.nodes as [typeof state.plan.nodes[0], typeof state.plan.nodes[0]];
  // Each node's agent keeps its state (agent.json, control socket) under its own host directory.
  const host = (node: string) => ({ stateDir: path.join(stateDir, 'hosts', node) });
  const view = (node: string) => agentState(host(node), node);
  const pictures = async (): Promise<Map<string, SaPicture>> => new Map(await Promise.all(names.map(async (n) => [n, await picture(host(n), n)] as const)));
  const diagnostics = () => names.map((n) => `${n}: ${JSON.stringify(view(n))}`).join('\n');

  // The administrator's etcdctl (root, from the underlay namespace): the liveness key of a node.
  const admin = ['--cacert', path.join(etcd.adminDir, 'ca.pem'), '--cert', path.join(etcd.adminDir, 'root.pem'), '--key', path.join(etcd.adminDir, 'root-key.pem')];
  const liveness = (node: string): { since: string } | undefined => {
    const r = inNs(`${PREFIX}-underlay`, ['env', 'ETCDCTL_API=3', 'etcdctl', `--endpoints=${etcd.endpoints.map((e) => `https://${e}`).join(',')}`, '--command-timeout=5s', ...admin, 'get', `${P}/liveness/${node}`, '--print-value-only']);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim() === '' ? undefined : (JSON.parse(r.stdout) as { since: string });
  };
  for (const n of names) assert.ok(liveness(n), `${n} holds its liveness key`);

  const startStreams = async () => {
    streams.push(await SeqStream.start(a.pods[0]!, b.pods[0]!, PPS), await SeqStream.start(b.pods[1]!, a.pods[1]!, PPS, 7998));
    for (const s of streams) await s.flowing();
  };
  const stopStreams = async (what: string): Promise<StreamResult[]> => {
    const results: StreamResult[] = [];
    for (const s of streams) results.push(await s.stop());
    streams.length = 0;
    t.diagnostic(`${what}: streams ${JSON.stringify(results)}`);
    for (const n of names) assertNoDrops(await statusOf(host(n), n), n);
    for (const r of results) {
      assert.ok(r.sent > PPS * (OUTAGE_MS / 1000), `${what}: the stream ran through the outage: ${JSON.stringify(r)}`);
      assert.equal(r.sendErrors, 0, JSON.stringify(r));
      assert.equal(r.lost, 0, `${what}: no datagram lost: ${JSON.stringify(r)}`);
    }
    return results;
  };
  /** Waits until `cut` say unreachable (since the cut) and the rest connected; checks ipsec status says so first. */
  const seeOutage = async (cut: string[], cutAt: number, what: string) => {
    await waitFor(() => names.every((n) => view(n)?.control_plane.state === (cut.includes(n) ? 'unreachable' : 'connected')), `${what}: ${cut.join(', ')} unreachable, the rest connected`, 30_000, 100)
      .catch((err: Error) => { throw new Error(`${err.message}\n${diagnostics()}`); });
    for (const n of cut) {
      const cp = view(n)!.control_plane;
      assert.ok(Date.parse(cp.since) >= cutAt - 1000, `${n}: unreachable since the cut: ${JSON.stringify(cp)}`);
      const text = (await ask(host(n), n, { cmd: 'status' })).text as string;
      assert.match(text.split('\n')[0]!, /^000 control plane unreachable since \d{4}-\d\d-\d\dT[0-9:.]+Z \(/, `${n}: ipsec status says so first`);
    }
    t.diagnostic(`${what}: unreachable seen after ${Date.now() - cutAt} ms; ${diagnostics()}`);
  };
  /** Holds the outage to OUTAGE_MS, checking at half time that traffic flows and nothing moved. */
  const ride = async (before: Map<string, SaPicture>, cutAt: number) => {
    await new Promise((r) => setTimeout(r, Math.max(0, cutAt + OUTAGE_MS / 2 - Date.now())));
    for (const s of streams) await s.flowing(100);
    samePictures(before, await pictures());
    for (const n of names) assert.equal(view(n)?.ready, true, `${n} still ready`);
    await new Promise((r) => setTimeout(r, Math.max(0, cutAt + OUTAGE_MS - Date.now())));
    samePictures(before, await pictures());
  };
  /** After the heal: every node connected with its liveness lease held, the same SAs a resync or two later. */
  const seeCatchUp = async (before: Map<string, SaPicture>, healAt: number, what: string) => {
    await waitFor(() => names.every((n) => view(n)?.control_plane.state === 'connected' && view(n)?.control_plane.liveness === 'held'), `${what}: every node connected, liveness held`, 30_000, 100)
      .catch((err: Error) => { throw new Error(`${err.message}\n${diagnostics()}`); });
    t.diagnostic(`${what}: connected again ${Date.now() - healAt} ms after the heal`);
    await new Promise((r) => setTimeout(r, 5000));
    samePictures(before, await pictures());
    for (const s of streams) await s.flowing(100);
  };

  await t.test('one node cut from every etcd member for 60 s', async () => {
    await startStreams();
    const before = await pictures();
    const cut = b.name;
    const ips = etcd.members.map((m) => m.ip).join(', ');
    const nft = (cmd: string) => {
      const r = inNs(b.netns, ['nft', cmd]);
      assert.equal(r.status, 0, `nft ${cmd}: ${r.stderr}`);
    };
    const cutAt = Date.now();
    nft(`add table inet ${CUT_TABLE}; add chain inet ${CUT_TABLE} out { type filter hook output priority 0 ; }; add chain inet ${CUT_TABLE} in { type filter hook input priority 0 ; }; ` +
      `add rule inet ${CUT_TABLE} out ip daddr { ${ips} } tcp dport ${ETCD_CLIENT_PORT} drop; add rule inet ${CUT_TABLE} in ip saddr { ${ips} } tcp sport ${ETCD_CLIENT_PORT} drop`);
    await seeOutage([cut], cutAt, 'cut');
    // Its lease is not renewed: within the TTL the others see it gone from the control plane.
    await waitFor(() => liveness(cut) === undefined, `${cut}'s liveness key expired`, 20_000, 500);
    // The cut node says so itself: it counts its lease from when it last sent a renewal that was
    // answered, so it turns lost no later than etcd drops the key (agent.json: at most 1 s behind).
    await waitFor(() => view(cut)?.control_plane.liveness === 'lost', `${cut} reports its liveness lease lost`, 3000, 100).catch((err: Error) => assert.fail(`${err.message}\n${diagnostics()}`));
    assert.ok(liveness(a.name), `${a.name} keeps its liveness key`);
    await ride(before, cutAt);
    const healAt = Date.now();
    nft(`delete table inet ${CUT_TABLE}`);
    await seeCatchUp(before, healAt, 'cut');
    const back = liveness(cut);
    assert.ok(back && Date.parse(back.since) >= healAt - 1000, `${cut} put a new liveness key after the heal: ${JSON.stringify(back)}`);
    await stopStreams('cut');
  });

  await t.test('every etcd member stopped for 60 s', async () => {
    await startStreams();
    const before = await pictures();
    const cutAt = Date.now();
    stopped = members.map((m) => m.pid);
    for (const pid of stopped) process.kill(pid, 'SIGSTOP');
    await seeOutage(names, cutAt, 'stopped');
    await ride(before, cutAt);
    const healAt = Date.now();
    for (const pid of stopped) process.kill(pid, 'SIGCONT');
    stopped = [];
    await seeCatchUp(before, healAt, 'stopped');
    await waitFor(() => names.every((n) => liveness(n) !== undefined), 'every node holds its liveness key again', 20_000, 500);
    await stopStreams('stopped');
  });

  const down = cli(PREFIX, ['down', '--state-dir', stateDir]);
  assert.equal(down.status, 0, down.stderr);
  await assertNothingLeft(PREFIX, pids);
});
