import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { waitFor } from '../helpers/netns.js';
import { planTopology, describePods, type TopologyPlan } from '../../src/cluster/topology.js';
import { buildTopology, teardownTopology, listNamespaces, namespacePids } from '../../src/cluster/topology-netns.js';
import { startClusterOverlay, type OverlayProcess } from '../helpers/overlay-processes.js';
import { tunnelName } from '../../src/overlay/tunnel-name.js';
import { pidAlive } from '../../src/util/pid.js';

// Three nodes (2 masters, 1 worker) with two pods each, one overlay runner per node over plain UDP
// 6081: pods on different nodes reach each other (ICMP, TCP) and the underlay shows the seed's §5.2
// cleartext Geneve. Then everything is removed.

const PREFIX = 'oit-cl';
function inNs(ns: string, cmd: string[], timeoutMs = 20_000) {
  return spawnSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8', timeout: timeoutMs });
}

/** A TCP echo check: a server in one pod, a client in another sends `bytes` and must read them back. */
async function tcpEcho(plan: TopologyPlan, serverNs: string, serverIp: string, clientNs: string, bytes: number): Promise<void> {
  const server = spawn('ip', ['netns', 'exec', serverNs, process.execPath, '-e', `
    const net = require('node:net');
    const s = net.createServer((c) => c.pipe(c));
    s.listen(7007, '${serverIp}', () => process.stdout.write('listening\\n'));
    setTimeout(() => process.exit(3), 20000);
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      server.stdout!.once('data', () => resolve());
      server.once('exit', (c) => reject(new Error(`echo server exited ${c}`)));
    });
    const client = inNs(clientNs, [process.execPath, '-e', `
      const net = require('node:net');
      const crypto = require('node:crypto');
      const data = crypto.randomBytes(${bytes});
      const got = [];
      let n = 0;
      const c = net.connect(7007, '${serverIp}', () => c.write(data));
      c.on('data', (d) => { got.push(d); n += d.length; if (n >= data.length) { c.end(); const ok = Buffer.concat(got).equals(data); process.stdout.write(ok ? 'echo-ok' : 'echo-mismatch'); process.exit(ok ? 0 : 1); } });
      c.on('error', (e) => { process.stdout.write('error ' + e.message); process.exit(2); });
      setTimeout(() => { process.stdout.write('timeout after ' + n); process.exit(4); }, 15000);
    `]);
    assert.equal(client.stdout, 'echo-ok', `TCP ${clientNs} → ${serverIp}: ${client.stdout} ${client.stderr}`);
  } finally {
    if (server.exitCode === null) {
      server.kill('SIGTERM');
      await once(server, 'exit');
    }
  }
  void plan;
}

test('overlay between netns nodes: pods talk over cleartext Geneve; teardown leaves nothing', { timeout: 180_000 }, async (t) => {
  const plan = planTopology({ prefix: PREFIX, masters: 2, workers: 1, podsPerNode: 2 });
  const dir = mkdtempSync(path.join(tmpdir(), 'oit-cl-'));
  let runners: OverlayProcess[] = [];
  let capture: ChildProcess | undefined;
  t.after(async () => {
    capture?.kill('SIGKILL');
    await teardownTopology(PREFIX);
    rmSync(dir, { recursive: true, force: true });
  });

  await buildTopology(plan);
  assert.deepEqual((await listNamespaces(PREFIX)).sort(), [
    `${PREFIX}-underlay`,
    ...plan.nodes.flatMap((n) => [n.netns, ...n.pods.map((p) => p.netns)]),
  ].sort());

  // Addresses and MTUs as planned: the seed's underlay addresses, pod MTU 1400, underlay 1546.
  const m0 = plan.nodes[0]!;
  const show = inNs(m0.netns, ['ip', '-j', 'addr', 'show', 'dev', 'eth0']);
  const eth0 = JSON.parse(show.stdout) as Array<{ mtu: number; addr_info: Array<{ local: string; prefixlen: number }> }>;
  assert.equal(eth0[0]!.mtu, 1546);
  assert.deepEqual(eth0[0]!.addr_info.filter((a) => a.local.includes('.')).map((a) => `${a.local}/${a.prefixlen}`), ['192.168.7.21/24']);
  const podShow = JSON.parse(inNs(m0.pods[0]!.netns, ['ip', '-j', 'addr', 'show', 'dev', 'eth0']).stdout) as Array<{ mtu: number; addr_info: Array<{ local: string }> }>;
  assert.equal(podShow[0]!.mtu, 1400);
  assert.equal(podShow[0]!.addr_info.find((a) => a.local.includes('.'))!.local, '10.254.0.2');

  const systemIds = Object.fromEntries(plan.nodes.map((n) => [n.name, randomUUID()]));
  runners = await startClusterOverlay(plan, systemIds, dir);
  assert.deepEqual(runners.map((r) => r.node), plan.nodes.map((n) => n.name));

  const pcap = path.join(dir, 'underlay.pcap');
  capture = spawn('ip', ['netns', 'exec', plan.underlay.netns, 'tcpdump', '-i', plan.underlay.bridge, '-U', '-n', '-w', pcap, 'udp'], { stdio: ['ignore', 'ignore', 'pipe'] });
  await waitFor(() => existsSync(pcap), 'tcpdump started', 10_000);
  await new Promise((r) => setTimeout(r, 300));

  // ICMP: every pod reaches one pod on every other node.
  for (const a of plan.nodes) {
    for (const b of plan.nodes) {
      if (a === b) continue;
      const src = a.pods[0]!;
      const dst = b.pods[1]!;
      const ping = inNs(src.netns, ['ping', '-c', '2', '-i', '0.2', '-W', '2', dst.ip]);
      assert.equal(ping.status, 0, `ping ${src.name} → ${dst.name} (${dst.ip}):\n${ping.stdout}${ping.stderr}`);
    }
  }
  // A node itself (host network) reaches a remote pod, speaking from its gateway address.
  const hostPing = inNs(m0.netns, ['ping', '-c', '1', '-W', '2', plan.nodes[2]!.pods[0]!.ip]);
  assert.equal(hostPing.status, 0, `node → remote pod: ${hostPing.stdout}`);

  // TCP, with segments at the full pod MTU.
  await tcpEcho(plan, plan.nodes[1]!.pods[0]!.netns, plan.nodes[1]!.pods[0]!.ip, m0.pods[1]!.netns, 200_000);

  // Per-tunnel counters and no drops.
  const status = await runners[0]!.status();
  assert.deepEqual(status.underlay_counters, { send_errors: 0, receive_errors: 0 });
  assert.equal(status.tun_write_failures, 0);
  assert.deepEqual(status.tunnels.map((x) => x.name).sort(), [tunnelName(systemIds.master1!), tunnelName(systemIds.worker0!)].sort());
  for (const tun of status.tunnels) {
    assert.ok(tun.packets_in > 0 && tun.packets_out > 0 && tun.bytes_in > tun.packets_in && tun.bytes_out > tun.packets_out, JSON.stringify(tun));
  }
  assert.equal(Object.values(status.drops.inbound).reduce((a, b) => a + b, 0), 0, JSON.stringify(status.drops));

  // The underlay: cleartext Geneve between the node addresses, as in the seed's §5.2.
  await new Promise((r) => setTimeout(r, 300));
  capture.kill('SIGTERM');
  await once(capture, 'exit');
  capture = undefined;
  const fields = spawnSync('tshark', ['-r', pcap, '-Y', 'geneve', '-T', 'fields', '-E', 'separator=|',
    '-e', 'ip.src', '-e', 'ip.dst', '-e', 'udp.dstport', '-e', 'geneve.vni', '-e', 'geneve.flags.critical',
    '-e', 'geneve.proto_type', '-e', 'geneve.option.class', '-e', 'eth.type', '-e', 'ip.proto'], { encoding: 'utf8' });
  assert.equal(fields.status, 0, fields.stderr);
  const rows = fields.stdout.trim().split('\n').filter(Boolean).map((l) => l.split('|'));
  assert.ok(rows.length > 50, `expected many Geneve packets, got ${rows.length}`);
  const underlayIps = new Set(plan.nodes.map((n) => n.underlayIp));
  const vniOf = new Map(plan.nodes.map((n) => [n.underlayIp, n.vni]));
  let icmp = 0;
  let tcp = 0;
  for (const [src, dst, dport, vni, critical, proto, optClass, , ipProto] of rows) {
    const outer = src!.split(',');
    const inner = ipProto!.split(',');
    assert.ok(underlayIps.has(outer[0]!) && underlayIps.has(dst!.split(',')[0]!), `outer ${src} → ${dst}`);
    assert.equal(dport, '6081');
    assert.equal(Number(vni), vniOf.get(dst!.split(',')[0]!), 'VNI is the destination node\'s');
    assert.ok(critical === 'True' || critical === '1', `critical flag: ${critical}`);
    assert.equal(Number(proto), 0x6558);
    assert.equal(Number(optClass), 0x0102);
    if (inner.at(-1) === '1') icmp++;
    if (inner.at(-1) === '6') tcp++;
  }
  assert.ok(icmp >= 4 * plan.nodes.length, `inner ICMP packets seen: ${icmp}`);
  assert.ok(tcp > 100, `inner TCP packets seen: ${tcp}`);
  // tcpdump's own view matches the seed's line: "Geneve, Flags [C], vni 0x…, options [8 bytes]: IP …"
  const text = spawnSync('tcpdump', ['-r', pcap, '-n', '-c', '5'], { encoding: 'utf8' });
  assert.match(text.stdout, /\.6081: Geneve, Flags \[C\], vni 0x[0-9a-f]+, options \[8 bytes\]: IP 10\.254\./);

  // Teardown: runners end by PID, namespaces go, nothing is left.
  const pids = (await Promise.all(plan.nodes.map((n) => namespacePids(n.netns)))).flat();
  assert.ok(pids.length >= plan.nodes.length, 'runner processes live inside the node namespaces');
  const removed = await teardownTopology(PREFIX);
  assert.equal(removed.length, 1 + plan.nodes.length * 3);
  assert.deepEqual(await listNamespaces(PREFIX), []);
  for (const r of runners) if (r.running) await once(r.child, 'exit');
  for (const pid of pids) assert.equal(pidAlive(pid), false, `process ${pid} is gone`);
  assert.ok(runners.every((r) => r.events.some((l) => l.event === 'stopped')), 'runners closed TUN and sockets on SIGTERM');
  assert.equal(describePods(plan).length, 6);
});
