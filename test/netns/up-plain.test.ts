import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { teardownTopology } from '../../src/cluster/topology-netns.js';
import { tsharkFields } from '../helpers/tshark.js';
import { assertNothingLeft, cli, inNs, readState, tcpEcho } from './up-helpers.js';
import { pidAlive } from '../../src/util/pid.js';

// `up --no-ipsec --detach` (2 masters + 1 worker, 1 pod each): pods listed, every pod reaches a pod
// on every other node (ICMP, TCP), and `verify` reports the seed's §5.2 — cleartext Geneve between
// the nodes, exit 1 — with the capture kept for tshark. `down` leaves nothing behind.

const PREFIX = 'oit-up1';

test('up --no-ipsec: pods talk over cleartext Geneve, verify says so and exits 1, down removes everything', { timeout: 300_000 }, async (t) => {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'oit-up1-'));
  const work = mkdtempSync(path.join(tmpdir(), 'oit-up1-out-'));
  t.after(async () => {
    await teardownTopology(PREFIX);
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  const up = cli(PREFIX, ['up', '--no-ipsec', '--detach', '--masters', '2', '--workers', '1', '--pods-per-node', '1', '--state-dir', stateDir]);
  assert.equal(up.status, 0, `up failed:\n${up.stdout}\n${up.stderr}`);
  // Plain progress lines (stdout is a pipe) and the summary.
  assert.match(up.stdout, /✓ building 7 namespaces/);
  assert.match(up.stdout, /IPsec off \(plain Geneve\)/);
  assert.match(up.stdout, /master0 +192\.168\.7\.21 +10\.254\.0\.0\/24 +2\/2/);
  assert.match(up.stdout, /worker0 +192\.168\.7\.11 +10\.254\.2\.0\/24 +2\/2/);
  assert.match(up.stdout, /pod-to-pod: 6\/6 pairs answered/);
  assert.match(up.stdout, /NOT encrypted: \d+ cleartext Geneve packets between nodes \(IPsec is off\)/);

  const state = readState(stateDir);
  assert.equal(state.prefix, PREFIX);
  assert.equal(state.ipsec, false);
  assert.equal(state.supervisorPid, null, 'detached');
  const pids = state.daemons.map((d) => d.pid);
  assert.ok(pids.length >= 4 && pids.every(pidAlive), 'operator and node daemons run after up returned');

  const pods = JSON.parse(cli(PREFIX, ['pods', '--json', '--state-dir', stateDir]).stdout) as Array<{ name: string; node: string; ip: string; netns: string }>;
  assert.deepEqual(pods, [
    { name: 'master0-pod0', node: 'master0', ip: '10.254.0.2', netns: `${PREFIX}-master0-pod0` },
    { name: 'master1-pod0', node: 'master1', ip: '10.254.1.2', netns: `${PREFIX}-master1-pod0` },
    { name: 'worker0-pod0', node: 'worker0', ip: '10.254.2.2', netns: `${PREFIX}-worker0-pod0` },
  ]);
  const table = cli(PREFIX, ['pods', '--state-dir', stateDir]);
  assert.match(table.stdout, /^NAME +NODE +IP +NETNS\nmaster0-pod0 +master0 +10\.254\.0\.2 +oit-up1-master0-pod0\n/);

  for (const a of pods) {
    for (const b of pods) {
      if (a === b) continue;
      const ping = inNs(a.netns, ['ping', '-c', '2', '-i', '0.2', '-W', '2', b.ip]);
      assert.equal(ping.status, 0, `ping ${a.name} → ${b.name}:\n${ping.stdout}${ping.stderr}`);
      await tcpEcho(b.netns, b.ip, a.netns, 50_000);
    }
  }

  // A second `up` on a running cluster refuses (exit 2) and leaves it alone.
  const again = cli(PREFIX, ['up', '--no-ipsec', '--detach', '--state-dir', stateDir]);
  assert.equal(again.status, 2, again.stdout + again.stderr);
  assert.match(again.stderr, /a cluster \(prefix oit-up1, started .*\) is already running from .*: operator \(pid \d+\), agent master0 \(pid \d+\)/);
  assert.ok(pids.every(pidAlive), 'the running cluster was not touched');

  const pcap = path.join(work, 'plain.pcap');
  const v = cli(PREFIX, ['verify', '--json', '--seconds', '2', '--pcap', pcap, '--state-dir', stateDir]);
  assert.equal(v.status, 1, `verify must fail on cleartext Geneve:\n${v.stdout}\n${v.stderr}`);
  const report = JSON.parse(v.stdout) as { packets: Record<string, number>; encrypted: boolean; spis: string[]; cleartext_samples: string[]; pings: Array<{ received: number }> };
  assert.equal(report.encrypted, false);
  assert.equal(report.packets.esp, 0);
  assert.equal(report.packets.ike, 0);
  assert.ok((report.packets.geneve_cleartext ?? 0) > 20, `cleartext Geneve counted: ${JSON.stringify(report.packets)}`);
  assert.ok(report.pings.every((p) => p.received > 0));
  assert.match(report.cleartext_samples[0]!, /IP 192\.168\.7\.\d+\.\d+ > 192\.168\.7\.\d+\.6081: Geneve, Flags \[C\], vni 0x[0-9a-f]+, options \[8 bytes\]: IP 10\.254\./);

  // tshark, independently: the kept capture holds Geneve with the pods' packets inside, in the clear.
  assert.ok(existsSync(pcap));
  const rows = tsharkFields(pcap, { filter: 'geneve && icmp', fields: ['ip.src', 'ip.dst', 'geneve.vni'] });
  assert.ok(rows.length > 10, `tshark sees inner ICMP in Geneve: ${rows.length}`);
  for (const [src] of rows) assert.match(src!, /^192\.168\.7\.\d+,10\.254\.\d+\.2(,10\.254\.\d+\.2)*$/);

  // Text mode says it plainly; run as the README gives it, with the default capture length (5 s,
  // whose ping timeout is a fractional number of milliseconds: it once made verify crash).
  const text = cli(PREFIX, ['verify', '--state-dir', stateDir]);
  assert.equal(text.status, 1);
  assert.match(text.stdout, /NOT ENCRYPTED: \d+ cleartext Geneve packets crossed the underlay between nodes \(IPsec is off/);

  const down = cli(PREFIX, ['down', '--state-dir', stateDir]);
  assert.equal(down.status, 0, down.stderr);
  assert.match(down.stdout, /removed 7 namespaces \(prefix oit-up1\)/);
  await assertNothingLeft(PREFIX, pids);
  assert.deepEqual(readdirSync(stateDir), [], 'the state dir holds nothing of the cluster');
  // Again: nothing to do, still success.
  const downAgain = cli(PREFIX, ['down', '--state-dir', stateDir]);
  assert.equal(downAgain.status, 0);
  assert.match(downAgain.stdout, /nothing to remove/);
});
