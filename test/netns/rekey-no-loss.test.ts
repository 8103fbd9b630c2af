import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { IPSEC_CONFIGS, classify, inNs, startCapture, startCluster, statusOf, stopCapture, stopCluster, waitReady, type Cluster } from '../helpers/agent-cluster.js';
import { SeqStream, type StreamResult } from '../helpers/seq-stream.js';
import { ROLLOVER_OFFSET, ROTATION_OFFSET, assertNoDrops, caRollover, certRotation, childRekey, ikeRekey } from '../helpers/key-change.js';
import { listNamespaces } from '../../src/cluster/topology-netns.js';

// Zero loss while keys change: two nodes, a sequence-numbered UDP stream each way between pods
// on them (thousands of datagrams a second in all), and the underlay captured throughout. Child
// rekeys, an IKE rekey, a node certificate rotation (clock jumped 4.5 years) and a CA rollover
// (9 years) happen under the stream: nothing may be lost, no inbound ESP refused, no cleartext
// Geneve on the underlay.

const PREFIX = 'oif-rk';

/** A namespace's UDP InErrors (/proc/net/snmp): datagrams its sockets had no room for. */
function udpErrors(netns: string): string {
  const snmp = inNs(netns, ['cat', '/proc/net/snmp']).stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  const [h, v] = snmp.map((l) => l.split(/\s+/));
  return h && v ? v[h.indexOf('InErrors')]! : '?';
}
const PPS = 1500;

test('zero loss while keys change: child rekeys, IKE rekeys, node certificate rotation (4.5 y), CA rollover (9 y)', { timeout: 180_000 }, async (t) => {
  let c: Cluster | undefined;
  let capture: ChildProcess | undefined;
  const streams: SeqStream[] = [];
  t.after(async () => {
    for (const s of streams) s.kill();
    capture?.kill('SIGKILL');
    await stopCluster(c);
  });
  // OI_CLOCK_OFFSET=0: the agents start at today's date and allow `clock/offset` (the test hook).
  c = await startCluster({ prefix: PREFIX, configs: IPSEC_CONFIGS, masters: 1, workers: 1, agentEnv: { OI_CLOCK_OFFSET: '0' } });
  const cl = c;
  await waitReady(cl);
  const [a, b] = cl.plan.nodes as [typeof cl.plan.nodes[0], typeof cl.plan.nodes[0]];
  const pcap = path.join(cl.stateDir, 'underlay.pcap');
  capture = await startCapture(cl, pcap);
  streams.push(await SeqStream.start(a.pods[0]!, b.pods[0]!, PPS), await SeqStream.start(b.pods[1]!, a.pods[1]!, PPS, 7998));
  for (const s of streams) await s.flowing();

  const steps: string[] = [];
  const step = async (name: string, fn: () => Promise<void>): Promise<void> => {
    const t0 = Date.now();
    await fn();
    for (const s of streams) await s.flowing(100);
    // Drops and stream state after each step, so a failure says which key change lost what.
    const drops = await Promise.all(cl.plan.nodes.map(async (n) => {
      const st = await statusOf(cl, n.name);
      const out = Object.values(st.outbound_drops).reduce((x, y) => x + y, 0);
      return `${st.drops.unknown_spi}/${out}/${st.tun.write_errors}/${st.udp.send_drops}`;
    }));
    const rcvbuf = [a.pods[1]!, b.pods[0]!, a, b].map((p) => udpErrors(p.netns));
    const tunDrops = [a, b].map((n) => inNs(n.netns, ['ip', '-s', '-o', 'link', 'show', 'ovn-k8s-tun0']).stdout.replace(/\\/g, '').replace(/\s+/g, ' ').replace(/^.*RX: /, 'RX: '));
    steps.push(`  tun ${tunDrops.join(' | ')}`);
    steps.push(`${name} ${Date.now() - t0} ms (unknown_spi/outbound drops/tun write errors/udp send drops ${drops.join(' ')}; UDP InErrors (receiving pods, nodes) ${rcvbuf.join('/')}; missing ${streams.map((s) => s.report?.missing).join('/')})`);
  };
  await step('child rekey (initiator side)', () => childRekey(cl, a.name));
  await step('child rekey (responder side)', () => childRekey(cl, b.name));
  await step('IKE rekey', () => ikeRekey(cl, a.name));
  await step('IKE rekey (other side)', () => ikeRekey(cl, b.name));
  await step('node certificate rotation (4.5 y + 8 d)', () => certRotation(cl, ROTATION_OFFSET));
  await step('CA rollover (9 y + 8 d)', () => caRollover(cl, ROLLOVER_OFFSET));

  const results: StreamResult[] = [];
  for (const s of streams) results.push(await s.stop());
  streams.length = 0;
  await stopCapture(cl, capture, pcap);
  capture = undefined;
  const classes = classify(cl, pcap);
  t.diagnostic(`steps: ${steps.join('; ')}`);
  t.diagnostic(`streams: ${JSON.stringify(results)}; underlay ${JSON.stringify(classes)}`);
  for (const n of cl.plan.nodes) assertNoDrops(await statusOf(cl, n.name), n.name);
  for (const r of results) {
    assert.ok(r.sent > PPS, `the stream ran: ${JSON.stringify(r)}`);
    assert.equal(r.sendErrors, 0, JSON.stringify(r));
    assert.equal(r.lost, 0, `no datagram lost while keys changed: ${JSON.stringify(r)}`);
  }
  assert.equal(classes.geneve, 0, `no cleartext Geneve on the underlay: ${JSON.stringify(classes)}`);
  assert.ok(classes.esp >= results.reduce((x, r) => x + r.sent, 0), `the streams went as ESP: ${JSON.stringify(classes)}`);
});

test('teardown leaves no namespace behind', async () => {
  assert.deepEqual(await listNamespaces(PREFIX), []);
});
