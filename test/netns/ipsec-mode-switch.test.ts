import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { teardownTopology } from '../../src/cluster/topology-netns.js';
import { FsStore } from '../../src/store/fs-store.js';
import { storeDir } from '../../src/store/layout.js';
import { NETWORK_KEY } from '../../src/store/documents.js';
import { desiredState } from '../../src/agent/desired.js';
import { OverlayEngine } from '../../src/overlay/engine.js';
import { buildIpv4UdpPacket } from '../../src/wire/udp.js';
import { parseIpv4 } from '../../src/wire/address.js';
import type { StatusJson } from '../../src/host/status.js';
import { waitFor } from '../helpers/netns.js';
import { repoRoot } from '../helpers/paths.js';
import { SeqStream, type StreamResult } from '../helpers/seq-stream.js';
import { assertNothingLeft, cli, inNs, readState } from './up-helpers.js';

// IPsec switched off and on under traffic on the 5-node local cluster: a numbered UDP stream at
// 1000 pps each way and a TCP transfer between pods on different nodes run across Full → Disabled
// and Disabled → Full (`config apply --wait`): nothing lost, nothing duplicated, the TCP bytes'
// SHA-256 right. A capture of the underlay switch sees cleartext Geneve only after disabling
// began and none once enabling finished; `verify` exits 0 in Full and 1 in Disabled. In Full, a
// cleartext Geneve packet from a peer's address is counted and never reaches the pod. Ten more
// toggles leave no SA, TUN, rule or socket behind.

const PREFIX = 'oit-ms';
const PPS = 1000;
const SEED = path.join(repoRoot, 'examples', 'manifests', 'cluster-network-03-config.yml');

function networkFile(dir: string, mode: 'Full' | 'Disabled' | 'External', mtu = 1400): string {
  const file = path.join(dir, `cluster-network-${mode.toLowerCase()}-${mtu}.yml`);
  writeFileSync(file, readFileSync(SEED, 'utf8').replace('ipsecConfig: {}', `ipsecConfig: {mode: ${mode}}`).replace('mtu: 1400', `mtu: ${mtu}`));
  return file;
}

/** A TCP transfer paced at ~1 MB/s from one pod to another until stopped; both ends hash what passed. */
async function startTcp(server: { netns: string; ip: string }, client: { netns: string }): Promise<{ stop(): Promise<{ sent: string; got: string }> }> {
  const srv = spawn('ip', ['netns', 'exec', server.netns, process.execPath, '-e', `
    const h = require('node:crypto').createHash('sha256'); let n = 0;
    const s = require('node:net').createServer((c) => { c.on('data', (d) => { h.update(d); n += d.length; }); c.on('end', () => { process.stdout.write('got ' + n + ' ' + h.digest('hex') + '\\n'); process.exit(0); }); });
    s.listen(7070, '${server.ip}', () => process.stdout.write('listening\\n'));
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  let srvOut = '';
  srv.stdout!.setEncoding('utf8');
  srv.stdout!.on('data', (d: string) => { srvOut += d; });
  await waitFor(() => srvOut.includes('listening'), 'the TCP server listening', 10_000, 20);
  const cl = spawn('ip', ['netns', 'exec', client.netns, process.execPath, '-e', `
    const crypto = require('node:crypto'); const h = crypto.createHash('sha256'); let n = 0;
    const c = require('node:net').connect(7070, '${server.ip}');
    const t = setInterval(() => { const b = crypto.randomBytes(20000); h.update(b); n += b.length; c.write(b); }, 20);
    process.on('SIGTERM', () => { clearInterval(t); c.end(() => { process.stdout.write('sent ' + n + ' ' + h.digest('hex') + '\\n'); process.exit(0); }); });
    c.on('error', (e) => { process.stdout.write('error ' + e.message + '\\n'); process.exit(2); });
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  let clOut = '';
  cl.stdout!.setEncoding('utf8');
  cl.stdout!.on('data', (d: string) => { clOut += d; });
  return {
    async stop() {
      await new Promise((r) => setTimeout(r, 200));
      cl.kill('SIGTERM');
      await once(cl, 'exit');
      await waitFor(() => srvOut.includes('got '), `the TCP server saw the end (client: ${clOut})`, 30_000, 50);
      return { sent: clOut.trim().replace(/^sent /, ''), got: srvOut.trim().split('\n').pop()!.replace(/^got /, '') };
    },
  };
}

test('IPsec off and on under traffic: no loss, no duplicate, TCP intact; capture, verify, spoof and ten toggles', { timeout: 900_000 }, async (t) => {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'oit-ms-'));
  const work = mkdtempSync(path.join(tmpdir(), 'oit-ms-out-'));
  const procs: ChildProcess[] = [];
  const streams: SeqStream[] = [];
  t.after(async () => {
    for (const s of streams) s.kill();
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    cli(PREFIX, ['down', '--state-dir', stateDir], 60_000);
    await teardownTopology(PREFIX);
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });
  const off = networkFile(work, 'Disabled');
  const on = networkFile(work, 'Full');
  const apply = (file: string, extra: string[] = []) => cli(PREFIX, ['config', 'apply', file, '--wait', '--timeout', '90', '--state-dir', stateDir, ...extra], 120_000);

  const up = cli(PREFIX, ['up', '--detach', '--pods-per-node', '1', '--state-dir', stateDir], 400_000);
  assert.equal(up.status, 0, `up failed:\n${up.stdout}\n${up.stderr}`);
  assert.match(up.stdout, /cluster up: 5 nodes/);
  assert.match(up.stdout, /master0 .* Full\n/, 'the summary shows each node\'s IPsec mode');
  const state = readState(stateDir);
  const pids = state.daemons.map((d) => d.pid);
  const node = (name: string) => state.nodes.find((n) => n.name === name)!;
  const pods = JSON.parse(cli(PREFIX, ['pods', '--json', '--state-dir', stateDir]).stdout) as Array<{ name: string; node: string; ip: string; netns: string }>;
  const pod = (n: string) => pods.find((p) => p.node === n)!;

  // What cannot change at run time is refused, naming the key; External is not supported.
  const mtu = cli(PREFIX, ['config', 'apply', networkFile(work, 'Disabled', 1300), '--state-dir', stateDir]);
  assert.equal(mtu.status, 2, mtu.stderr);
  assert.match(mtu.stderr, /spec\.defaultNetwork\.ovnKubernetesConfig\.mtu: 1300 differs from the installed 1400 and cannot change at run time/);
  const ext = cli(PREFIX, ['config', 'apply', networkFile(work, 'External'), '--state-dir', stateDir]);
  assert.equal(ext.status, 2, ext.stderr);
  assert.match(ext.stderr, /ipsecConfig\.mode: External .* is not supported/);

  // The spoof, built by an overlay engine that believes it is worker0, sent from worker0's own
  // address to master0's Geneve port: a well-formed cleartext Geneve packet for master0's pod.
  const store = await FsStore.open(storeDir(stateDir));
  const [net, nodes, subnets] = await Promise.all([store.get('network', NETWORK_KEY), store.list('nodes'), store.list('subnets')]);
  await store.close();
  const w0 = node('worker0');
  const d = desiredState({ node: 'worker0', systemId: w0.systemId, underlay: w0.underlayIp }, net!.value, nodes.map((n) => n.value), subnets.map((s) => s.value));
  const engine = new OverlayEngine({ local: d.local!, peers: d.peers });
  const target = pod('master0');
  const spoof = (tag: string): void => {
    const inner = buildIpv4UdpPacket({ src: parseIpv4(pod('worker0').ip)!, dst: parseIpv4(target.ip)!, srcPort: 4444, dstPort: 7777, ttl: 64 }, Buffer.from(tag));
    const outer = engine.encapsulate(inner)!;
    const geneve = outer.subarray(28).toString('hex');
    const r = inNs(w0.netns, [process.execPath, '-e', `const s=require('dgram').createSocket('udp4');s.bind(0,'${w0.underlayIp}',()=>s.send(Buffer.from('${geneve}','hex'),6081,'${node('master0').underlayIp}',()=>s.close()))`]);
    assert.equal(r.status, 0, r.stderr);
  };
  const listener = spawn('ip', ['netns', 'exec', target.netns, process.execPath, '-e', `
    const s = require('dgram').createSocket('udp4'); s.on('message', (m) => process.stdout.write('got ' + m + '\\n'));
    s.bind(7777, '${target.ip}', () => process.stdout.write('listening\\n'));
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  procs.push(listener);
  let heard = '';
  listener.stdout!.setEncoding('utf8');
  listener.stdout!.on('data', (x: string) => { heard += x; });
  await waitFor(() => heard.includes('listening'), 'the pod listener', 10_000, 20);
  const refused = async (): Promise<number> => (JSON.parse(cli(PREFIX, ['ipsec', 'status', '--json', '--node', 'master0', '--state-dir', stateDir]).stdout) as StatusJson & { overlay_drops: Record<string, number> }).overlay_drops.cleartext_refused!;
  const before = await refused();
  spoof('spoof-in-full');
  await waitFor(async () => (await refused()) === before + 1, 'the spoofed packet counted as cleartext_refused', 10_000, 100);
  await new Promise((r) => setTimeout(r, 500));
  assert.doesNotMatch(heard, /spoof-in-full/, 'the spoofed packet never reached the pod');

  // Traffic across both transitions, the underlay switch captured throughout.
  const pcap = path.join(work, 'underlay.pcap');
  const cap = spawn('ip', ['netns', 'exec', state.plan.underlay.netns, 'tcpdump', '-i', state.plan.underlay.bridge, '-U', '-n', '-w', pcap, 'udp port 6081'], { stdio: ['ignore', 'ignore', 'pipe'] });
  procs.push(cap);
  let capErr = '';
  cap.stderr!.setEncoding('utf8');
  cap.stderr!.on('data', (x: string) => { capErr += x; });
  await waitFor(() => capErr.includes('listening on'), 'tcpdump listening', 10_000, 20);
  const a = pod('master0');
  const b = pod('worker1');
  streams.push(await SeqStream.start(a, b, PPS), await SeqStream.start(b, a, PPS, 7998));
  for (const s of streams) await s.flowing();
  const tcp = await startTcp(b, a);
  await new Promise((r) => setTimeout(r, 1000));

  const disableAt = Date.now() / 1000;
  const r1 = apply(off);
  assert.equal(r1.status, 0, `apply Disabled:\n${r1.stdout}\n${r1.stderr}`);
  assert.match(r1.stdout, /applied: IPsec Full → Disabled/);
  assert.match(r1.stdout, /5\/5 nodes in Disabled: master0=Disabled master1=Disabled master2=Disabled worker0=Disabled worker1=Disabled/);
  for (const s of streams) await s.flowing(500);
  const vOff = cli(PREFIX, ['verify', '--json', '--seconds', '2', '--state-dir', stateDir]);
  assert.equal(vOff.status, 1, `verify in Disabled:\n${vOff.stdout}\n${vOff.stderr}`);
  assert.ok((JSON.parse(vOff.stdout) as { packets: { geneve_cleartext: number } }).packets.geneve_cleartext > 0);
  const st = JSON.parse(cli(PREFIX, ['ipsec', 'status', '--json', '--node', 'worker1', '--state-dir', stateDir]).stdout) as StatusJson;
  assert.deepEqual([st.ike_sas.length, st.listen, st.mode?.phase], [0, [], 'Disabled'], 'no SA and no IKE socket in Disabled');

  // In Disabled the same packet is plain traffic from a peer: it reaches the pod (the spoof
  // check above can fail).
  spoof('plain-in-disabled');
  await waitFor(() => heard.includes('plain-in-disabled'), 'the same packet delivered while IPsec is off', 10_000, 50);

  const r2 = apply(on);
  assert.equal(r2.status, 0, `apply Full:\n${r2.stdout}\n${r2.stderr}`);
  const enabledAt = Date.now() / 1000;
  assert.match(r2.stdout, /5\/5 nodes in Full/);
  for (const s of streams) await s.flowing(1000);
  const results: StreamResult[] = [];
  for (const s of streams) results.push(await s.stop());
  streams.length = 0;
  const bytes = await tcp.stop();
  await new Promise((r) => setTimeout(r, 1000));
  cap.kill('SIGTERM');
  await once(cap, 'exit');
  const vOn = cli(PREFIX, ['verify', '--json', '--seconds', '2', '--state-dir', stateDir]);
  assert.equal(vOn.status, 0, `verify in Full:\n${vOn.stdout}\n${vOn.stderr}`);

  t.diagnostic(`streams ${JSON.stringify(results)}; tcp ${JSON.stringify(bytes)}`);
  for (const r of results) {
    assert.ok(r.sent > 3 * PPS, `the stream ran: ${JSON.stringify(r)}`);
    assert.equal(r.sendErrors, 0, JSON.stringify(r));
    assert.equal(r.lost, 0, `no datagram lost across the switches: ${JSON.stringify(r)}`);
    assert.equal(r.duplicates, 0, `no datagram duplicated: ${JSON.stringify(r)}`);
  }
  assert.equal(bytes.got, bytes.sent, 'the TCP transfer arrived whole, SHA-256 right');
  const times = spawnSync('tcpdump', ['-r', pcap, '-n', '-tt'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes('.6081:')).map((l) => Number(l.split(' ')[0]));
  assert.ok(times.length > 0, 'cleartext Geneve crossed while IPsec was off');
  assert.ok(Math.min(...times) >= disableAt, `cleartext Geneve only after disabling began (${Math.min(...times)} < ${disableAt})`);
  assert.ok(Math.max(...times) <= enabledAt, `no cleartext Geneve once enabling finished (${Math.max(...times)} > ${enabledAt})`);

  // Ten toggles: back in Full, everything is as it was — one IKE SA and two children per peer,
  // one TUN, the same rules and sockets; in Disabled no IKE socket.
  const sockets = (n: string) => inNs(node(n).netns, ['ss', '-uanH']).stdout.split('\n').filter(Boolean).map((l) => l.split(/\s+/)[3]).sort();
  const rules = (n: string) => inNs(node(n).netns, ['ip', 'rule']).stdout;
  const links = (n: string) => inNs(node(n).netns, ['ip', '-o', 'link']).stdout.split('\n').filter(Boolean).map((l) => l.split(':')[1]!.trim()).sort();
  const baseline = state.nodes.map((n) => ({ s: sockets(n.name), r: rules(n.name), l: links(n.name) }));
  for (let i = 0; i < 10; i++) {
    const r = apply(i % 2 === 0 ? off : on);
    assert.equal(r.status, 0, `toggle ${i + 1}:\n${r.stdout}\n${r.stderr}`);
  }
  for (const [i, n] of state.nodes.entries()) {
    // A duplicate from both ends initiating at once is cleaned up by the initiator within moments.
    const sas = () => (JSON.parse(cli(PREFIX, ['ipsec', 'status', '--json', '--node', n.name, '--state-dir', stateDir]).stdout) as StatusJson).ike_sas;
    await waitFor(() => sas().length === 4, `${n.name}: one IKE SA per peer`, 20_000, 500).catch(() => undefined);
    const s = sas();
    assert.equal(s.length, 4, `${n.name}: one IKE SA per peer: ${s.map((x) => `${x.name} ${x.state}`).join(', ')}`);
    assert.deepEqual(s.map((x) => x.children.length), [2, 2, 2, 2], `${n.name}: two children per peer`);
    assert.deepEqual({ s: sockets(n.name), r: rules(n.name), l: links(n.name) }, baseline[i], `${n.name}: sockets, rules and links as before the toggles`);
  }
  const down = cli(PREFIX, ['down', '--state-dir', stateDir]);
  assert.equal(down.status, 0, down.stderr);
  listener.kill('SIGKILL');
  await assertNothingLeft(PREFIX, pids);
});
