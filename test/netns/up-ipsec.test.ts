import { test } from 'node:test';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { namespacePids, teardownTopology } from '../../src/cluster/topology-netns.js';
import { waitFor } from '../helpers/netns.js';
import { tsharkRecords } from '../helpers/tshark.js';
import { cliPath } from '../helpers/paths.js';
import { assertNothingLeft, cli, inNs, readState, tcpEcho } from './up-helpers.js';
import { pidAlive } from '../../src/util/pid.js';

// `up --detach` with the seed's config (IPsec Full), 2 masters + 1 worker with one pod each:
// agents enroll and bring up IKE/ESP between every pair; every pod reaches a pod on every other node
// (ICMP, TCP); `verify` counts only ESP and IKE between the nodes and exits 0; tshark sees the
// same ESP packets and SPIs and no Geneve. (Decryption with the gathered key logs needs the agent to
// write them: see the report of this change.)

const PREFIX = 'oit-up3';

test('up with IPsec: pods talk, only ESP/IKE on the underlay (tshark agrees), down removes everything', { timeout: 300_000 }, async (t) => {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'oit-up3-'));
  const work = mkdtempSync(path.join(tmpdir(), 'oit-up3-out-'));
  t.after(async () => {
    await teardownTopology(PREFIX);
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  const up = cli(PREFIX, ['up', '--detach', '--keylog', '--masters', '2', '--workers', '1', '--pods-per-node', '1', '--state-dir', stateDir]);
  assert.equal(up.status, 0, `up failed:\n${up.stdout}\n${up.stderr}`);
  assert.match(up.stdout, /IPsec Full/);
  assert.match(up.stdout, /✓ establishing tunnels and IPsec SAs — 6\/6 tunnel ends up, 12 child SAs/);
  assert.match(up.stdout, /IPsec on \(IKEv2, ESP AES-GCM-256 in UDP 4500\)/);
  // Every node: both tunnels, one IKE SA and two child SAs (-in-1, -out-1) per peer.
  for (const [node, ip] of [['master0', '192.168.7.21'], ['master1', '192.168.7.22'], ['worker0', '192.168.7.11']] as const) {
    assert.match(up.stdout, new RegExp(`${node} +${ip.replace(/\./g, '\\.')} +10\\.254\\.\\d\\.0/24 +2/2 +2 +4 +[0-9a-f-]{36}`), up.stdout);
  }
  assert.match(up.stdout, /pod-to-pod: 6\/6 pairs answered/);
  assert.match(up.stdout, /underlay: ESP \d+, IKE \d+, cleartext Geneve 0, other 0 — encrypted/);

  const state = readState(stateDir);
  assert.equal(state.ipsec, true);
  assert.equal(state.daemon, 'agent');
  const pids = state.daemons.map((d) => d.pid);
  assert.ok(pids.every(pidAlive));

  const pods = JSON.parse(cli(PREFIX, ['pods', '--json', '--state-dir', stateDir]).stdout) as Array<{ name: string; node: string; ip: string; netns: string }>;
  assert.deepEqual(pods.map((p) => `${p.name} ${p.node} ${p.ip} ${p.netns}`), [
    `master0-pod0 master0 10.254.0.2 ${PREFIX}-master0-pod0`,
    `master1-pod0 master1 10.254.1.2 ${PREFIX}-master1-pod0`,
    `worker0-pod0 worker0 10.254.2.2 ${PREFIX}-worker0-pod0`,
  ]);
  for (const a of pods) {
    for (const b of pods) {
      if (a === b) continue;
      const ping = inNs(a.netns, ['ping', '-c', '2', '-i', '0.2', '-W', '2', b.ip]);
      assert.equal(ping.status, 0, `ping ${a.name} → ${b.name}:\n${ping.stdout}${ping.stderr}`);
      await tcpEcho(b.netns, b.ip, a.netns, 100_000);
    }
  }

  // verify captures while a 4 MB TCP echo runs pod to pod: bulk traffic, so the agents send runs
  // of ESP packets with UDP_SEGMENT (on by default) and the capture must still hold one ESP packet
  // per datagram, each no longer than the underlay MTU, each ICV good (below).
  const pcap = path.join(work, 'ipsec.pcap');
  const keylog = path.join(work, 'keys');
  const v = await verifyWhile(stateDir, ['--pcap', pcap, '--keylog', keylog], () => tcpEcho(`${PREFIX}-worker0-pod0`, '10.254.2.2', `${PREFIX}-master0-pod0`, 4_000_000));
  assert.equal(v.code, 0, `verify:\n${v.out}`);
  const report = JSON.parse(v.out) as { packets: Record<string, number>; encrypted: boolean; spis: string[]; keylog: { rows: Record<string, number> } };
  assert.equal(report.encrypted, true);
  assert.equal(report.packets.geneve_cleartext, 0);
  assert.equal(report.packets.other, 0, JSON.stringify(report));
  assert.ok((report.packets.esp ?? 0) > 50, `ESP counted: ${JSON.stringify(report.packets)}`);
  // Two child SAs per direction per pair of nodes carry traffic: 6 node pairs × … SPIs, at least one per direction.
  assert.ok(report.spis.length >= 6, `SPIs: ${report.spis.join(' ')}`);
  assert.deepEqual(readdirSync(keylog).sort(), ['esp_sa', 'ikev2_decryption_table', 'preferences']);

  // tshark, independently: the same ESP packets, in UDP 4500 between node addresses, with the SPIs
  // verify reported — and no Geneve visible without keys.
  const rows = tsharkRecords(pcap, { filter: 'esp', fields: ['esp.spi', 'ip.src', 'ip.dst', 'udp.dstport'] });
  assert.equal(rows.length, report.packets.esp, 'tshark sees the same ESP packets');
  assert.deepEqual([...new Set(rows.map((r) => `0x${Number(r['esp.spi']).toString(16).padStart(8, '0')}`))].sort(), [...report.spis].sort());
  assert.ok(rows.every((r) => r['udp.dstport'] === '4500' && /^192\.168\.7\./.test(r['ip.src']!) && /^192\.168\.7\./.test(r['ip.dst']!)));
  assert.equal(tsharkRecords(pcap, { filter: 'geneve', fields: ['geneve.vni'] }).length, 0, 'no Geneve readable without keys');

  // With the key logs the agents kept (`up --keylog`) and verify gathered, tshark opens every ESP
  // packet (ICV checked) and sees the Geneve frames and the pods' packets inside.
  assert.ok((report.keylog.rows.esp_sa ?? 0) >= 6, `esp_sa rows: ${JSON.stringify(report.keylog.rows)}`);
  const opened = tsharkRecords(pcap, { filter: 'esp', keylogDir: keylog, fields: ['esp.icv_good', 'geneve.vni', 'ip.src'] });
  assert.equal(opened.length, report.packets.esp);
  assert.ok(opened.every((r) => r['esp.icv_good'] === '1'), `ICV not good on: ${JSON.stringify(opened.find((r) => r['esp.icv_good'] !== '1'))}`);
  assert.ok(opened.every((r) => r['geneve.vni'] !== ''), 'every ESP packet carries a Geneve frame');
  assert.ok(opened.some((r) => /10\.254\./.test(r['ip.src']!)), 'pod addresses visible inside');
  assert.ok(opened.length > 2000, `the echo's ESP packets were captured: ${opened.length}`);
  const mtu = (JSON.parse(inNs(`${PREFIX}-underlay`, ['ip', '-j', 'link', 'show', 'br-underlay']).stdout) as Array<{ mtu: number }>)[0]!.mtu;
  const frames = tsharkRecords(pcap, { filter: 'esp', fields: ['frame.len'] }).map((r) => Number(r['frame.len']));
  assert.ok(frames.every((len) => len <= 14 + mtu), `a datagram longer than the underlay MTU ${mtu}: ${Math.max(...frames)} bytes`);

  // The follow-up commands the summary names work on this cluster.
  const show = cli(PREFIX, ['tunnels', 'show', '--node', 'worker0', '--state-dir', stateDir]);
  assert.equal(show.status, 0, show.stderr);
  assert.match(show.stdout, /Interface name: ovn-[0-9a-f]{6}-0 v1 \(CONFIGURED\)/);

  const status = cli(PREFIX, ['ipsec', 'status', '--node', 'worker0', '--json', '--state-dir', stateDir]);
  assert.equal(status.status, 0, status.stderr);
  const ikeSas = (JSON.parse(status.stdout) as { ike_sas: Array<{ state: string; children: Array<{ state: string; mode: string }> }> }).ike_sas;
  const established = ikeSas.filter((s) => /ESTABLISHED/.test(s.state));
  assert.ok(established.length >= 2, `worker0's IKE SAs: ${status.stdout}`);
  assert.ok(established.flatMap((s) => s.children).filter((c) => c.state === 'INSTALLED' && c.mode === 'transport').length >= 4);

  // The detector itself, with IPsec on: Geneve sent in the clear from master0 to worker0's 6081
  // (as a leaking data path would) while verify captures is reported, and verify exits 1. Its pods
  // talk to one other node each (`--destinations 1`, a ring): the leak is found all the same.
  const { code: leakCode, out: leakOut } = await verifyWhile(stateDir, ['--destinations', '1'], async () => {
    const leak = inNs(`${PREFIX}-master0`, [process.execPath, '-e', `
      const g = Buffer.from('024065580000040001028001000000000000000000000000', 'hex'); // Geneve: C, VNI 4, OVN option
      const s = require('node:dgram').createSocket('udp4');
      s.bind({ address: '192.168.7.21' }, () => { let n = 0; const t = setInterval(() => { s.send(g, 6081, '192.168.7.11'); if (++n === 5) { clearInterval(t); s.close(); } }, 50); });
    `]);
    assert.equal(leak.status, 0, leak.stderr);
  });
  assert.equal(leakCode, 1, leakOut);
  const leakReport = JSON.parse(leakOut) as { packets: Record<string, number>; encrypted: boolean; ipsec: boolean; pairs: Record<string, Record<string, number>>; pings: { from: string; to: string; received: number }[] };
  assert.equal(leakReport.ipsec, true);
  assert.deepEqual(leakReport.pings.map((p) => `${p.from}>${p.to}`).sort(), ['master0-pod0>master1-pod0', 'master1-pod0>worker0-pod0', 'worker0-pod0>master0-pod0'].sort());
  assert.ok(leakReport.pings.every((p) => p.received > 0), JSON.stringify(leakReport.pings));
  assert.equal(leakReport.encrypted, false);
  // Every cleartext packet seen is one of ours (the capture may start a moment after the first).
  const leaked = leakReport.packets.geneve_cleartext ?? 0;
  assert.ok(leaked >= 1 && leaked <= 5, JSON.stringify(leakReport.packets));
  assert.equal(leakReport.pairs['192.168.7.21>192.168.7.11']?.geneve_cleartext, leaked);

  const down = cli(PREFIX, ['down', '--state-dir', stateDir]);
  assert.equal(down.status, 0, down.stderr);
  assert.match(down.stdout, /removed 7 namespaces \(prefix oit-up3\)/);
  await assertNothingLeft(PREFIX, pids);
  assert.deepEqual(readdirSync(stateDir), []);
});

/**
 * Runs `verify --json --seconds 3` (plus `args`) on the cluster of `stateDir` and, once its tcpdump runs on the
 * underlay switch (and has had a moment to bind), `during`; resolves with verify's exit code and
 * output.
 */
async function verifyWhile(stateDir: string, args: string[], during: () => Promise<void>): Promise<{ code: number | null; out: string }> {
  const verifying = spawn(process.execPath, [cliPath, 'verify', '--json', '--seconds', '3', ...args, '--state-dir', stateDir], { env: { ...process.env, OI_NETNS_PREFIX: PREFIX }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  verifying.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  verifying.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = once(verifying, 'exit');
  await waitFor(async () => {
    if (verifying.exitCode !== null) throw new Error(`verify ended before its capture was seen (${verifying.exitCode}): ${out}`);
    return (await namespacePids(`${PREFIX}-underlay`)).some((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'tcpdump';
      } catch {
        return false;
      }
    });
  }, 'verify\'s tcpdump running', 30_000);
  await new Promise((r) => setTimeout(r, 500));
  await during();
  const [code] = (await exited) as [number | null];
  return { code, out };
}
