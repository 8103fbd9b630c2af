import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renameSync } from 'node:fs';
import { IPSEC_CONFIGS, agentState, ask, cli, clusterDiagnostics, startCluster, statusOf, stopCluster, waitReady, type Cluster } from '../helpers/agent-cluster.js';
import { SeqStream, type StreamResult } from '../helpers/seq-stream.js';
import { assertNoDrops, childRekey, ikeRekey, pictures, samePictures } from '../helpers/key-change.js';
import { waitFor } from '../helpers/netns.js';
import { storeDir } from '../../src/store/index.js';
import { listNamespaces } from '../../src/cluster/topology-netns.js';

// Static stability with the directory store: the store vanishes under running agents (its
// directory moved away, so every read fails) while pods stream through both nodes. A failed read
// is no answer — not "no peers": the tunnels, their SAs, DPD and rekeys go on, each agent says
// "control plane unreachable since T", and when the store is back they re-list and keep what
// still matches (the same SAs, nothing torn down).

const PREFIX = 'oif-ss';
const PPS = 1000;
const OUTAGE_MS = 20_000;

test('store unreachable for 20 s under a 1000 pps stream each way: no loss, the same SAs, rekeys still run, status says unreachable, catch-up keeps what matches', { timeout: 180_000 }, async (t) => {
  let c: Cluster | undefined;
  const streams: SeqStream[] = [];
  let away: string | undefined;
  t.after(async () => {
    for (const s of streams) s.kill();
    if (away && c) renameSync(away, storeDir(c.stateDir));
    await stopCluster(c);
  });
  c = await startCluster({ prefix: PREFIX, configs: IPSEC_CONFIGS, masters: 1, workers: 1 });
  const cl = c;
  await waitReady(cl);
  const [a, b] = cl.plan.nodes as [typeof cl.plan.nodes[0], typeof cl.plan.nodes[0]];
  streams.push(await SeqStream.start(a.pods[0]!, b.pods[0]!, PPS), await SeqStream.start(b.pods[1]!, a.pods[1]!, PPS, 7998));
  for (const s of streams) await s.flowing();
  for (const n of cl.plan.nodes) assert.equal(agentState(cl, n.name)?.control_plane.state, 'connected', n.name);
  const before = await pictures(cl);

  // The store goes away: every read now fails (ENOENT), as a read from an unreachable etcd does.
  const cutAt = Date.now();
  away = `${storeDir(cl.stateDir)}.away`;
  renameSync(storeDir(cl.stateDir), away);
  await waitFor(() => cl.plan.nodes.every((n) => agentState(cl, n.name)?.control_plane.state === 'unreachable'), 'every agent says the control plane is unreachable', 15_000, 100)
    .catch((err: Error) => { throw new Error(`${err.message}\n${clusterDiagnostics(cl)}`); });
  for (const n of cl.plan.nodes) {
    const st = agentState(cl, n.name)!;
    assert.ok(Date.parse(st.control_plane.since) >= cutAt - 1000, `${n.name}: unreachable since the cut: ${JSON.stringify(st.control_plane)}`);
    const text = (await ask(cl, n.name, { cmd: 'status' })).text as string;
    assert.match(text.split('\n')[0]!, /^000 control plane unreachable since \d{4}-\d\d-\d\dT[0-9:.]+Z \(/, `${n.name}: ipsec status says so first`);
    const ipsec = cli(['ipsec', 'status', '--node', n.name, '--state-dir', cl.stateDir, '--json']);
    assert.equal(ipsec.status, 0, ipsec.stderr);
    assert.equal((JSON.parse(ipsec.stdout) as { control_plane: { state: string } }).control_plane.state, 'unreachable');
  }
  // Half the outage: nothing has moved.
  await new Promise((r) => setTimeout(r, OUTAGE_MS / 2));
  for (const s of streams) await s.flowing(100);
  samePictures(before, await pictures(cl));
  for (const n of cl.plan.nodes) assert.equal(agentState(cl, n.name)?.ready, true, `${n.name} still ready`);
  // Rekeys need only the peer: a child rekey and an IKE rekey go through while the store is away.
  await childRekey(cl, a.name);
  await ikeRekey(cl, b.name);
  await new Promise((r) => setTimeout(r, Math.max(0, cutAt + OUTAGE_MS - Date.now())));
  const beforeHeal = await pictures(cl);

  renameSync(away, storeDir(cl.stateDir));
  away = undefined;
  await waitFor(() => cl.plan.nodes.every((n) => agentState(cl, n.name)?.control_plane.state === 'connected'), 'every agent reaches the store again', 15_000, 100);
  // A resync or two after the heal: the re-listed desired state matches what runs; nothing replaced.
  await new Promise((r) => setTimeout(r, 5000));
  samePictures(beforeHeal, await pictures(cl));
  for (const s of streams) await s.flowing(100);

  const results: StreamResult[] = [];
  for (const s of streams) results.push(await s.stop());
  streams.length = 0;
  t.diagnostic(`streams: ${JSON.stringify(results)}`);
  for (const n of cl.plan.nodes) assertNoDrops(await statusOf(cl, n.name), n.name);
  for (const r of results) {
    assert.ok(r.sent > PPS * (OUTAGE_MS / 1000), `the stream ran through the outage: ${JSON.stringify(r)}`);
    assert.equal(r.sendErrors, 0, JSON.stringify(r));
    assert.equal(r.lost, 0, `no datagram lost while the store was away: ${JSON.stringify(r)}`);
  }
  const nodes = cli(['nodes', '--state-dir', cl.stateDir, '--json']);
  assert.equal(nodes.status, 0, nodes.stderr);
  const rows = JSON.parse(nodes.stdout) as { node: string; control_plane: string; subnet: string }[];
  assert.deepEqual(rows.map((r) => [r.node, r.control_plane, r.subnet]), cl.plan.nodes.map((n) => [n.name, 'connected', n.subnet]));
});

test('teardown leaves no namespace behind', async () => {
  assert.deepEqual(await listNamespaces(PREFIX), []);
});
