// up's pod-to-pod check: one process per source pod pings every destination in parallel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../../src/cluster/run.js';
import { bySource, parsePingLines, pingAllArgv, podPairs } from '../../src/cluster/verify-traffic.js';
import { planTopology } from '../../src/cluster/topology.js';

test('parsePingLines: per address, sent and received and the average RTT; lines without a summary are skipped', () => {
  const out = [
    '10.254.1.2 PING 10.254.1.2 (10.254.1.2) 56(84) bytes of data. --- 10.254.1.2 ping statistics --- 3 packets transmitted, 3 received, 0% packet loss, time 402ms rtt min/avg/max/mdev = 0.061/0.083/0.101/0.016 ms',
    '10.254.2.2 PING 10.254.2.2 (10.254.2.2) 56(84) bytes of data. --- 10.254.2.2 ping statistics --- 3 packets transmitted, 0 received, 100% packet loss, time 2046ms',
    '10.254.3.2 ping: connect: Network is unreachable',
    '',
  ].join('\n');
  const m = parsePingLines(out);
  assert.deepEqual(m.get('10.254.1.2'), { sent: 3, received: 3, rttMs: 0.083 });
  assert.deepEqual(m.get('10.254.2.2'), { sent: 3, received: 0, rttMs: null });
  assert.equal(m.has('10.254.3.2'), false);
  assert.equal(m.size, 2);
});

test('bySource: every pair once, grouped by its source pod in first-seen order', () => {
  const plan = planTopology({ prefix: 'sc1t', masters: 3, workers: 4, podsPerNode: 1, clusterNetwork: '10.254.0.0/16', hostPrefix: 24, mtu: 1400 });
  const pairs = podPairs(plan.nodes);
  const groups = bySource(pairs);
  assert.equal(groups.length, 7);
  assert.deepEqual(groups.map((g) => g.length), [6, 6, 6, 6, 6, 6, 6]);
  assert.ok(groups.every((g) => g.every((p) => p.from === g[0]!.from)));
  assert.equal(new Set(groups.flat()).size, pairs.length);
  assert.deepEqual(groups.map((g) => g[0]!.from.netns), plan.nodes.map((n) => n.pods[0]!.netns));
});

test('podPairs with perSource: a ring — each pod sends to the next N nodes and hears from the N before it', () => {
  const plan = planTopology({ prefix: 'sc1r', masters: 3, workers: 9, podsPerNode: 1, clusterNetwork: '10.254.0.0/16', hostPrefix: 24, mtu: 1400 });
  const all = podPairs(plan.nodes);
  const ring = podPairs(plan.nodes, 3);
  assert.equal(all.length, 12 * 11);
  assert.equal(ring.length, 12 * 3);
  const name = (pod: { netns: string }) => plan.nodes.findIndex((n) => n.pods[0]!.netns === pod.netns);
  for (const p of ring) assert.ok([1, 2, 3].includes((name(p.to) - name(p.from) + 12) % 12), `${name(p.from)} -> ${name(p.to)}`);
  for (let i = 0; i < 12; i++) {
    assert.equal(ring.filter((p) => name(p.from) === i).length, 3);
    assert.equal(ring.filter((p) => name(p.to) === i).length, 3);
  }
  // Every pair of a ring is one of all pairs; no more destinations than other nodes.
  assert.ok(ring.every((r) => all.some((a) => a.from === r.from && a.to === r.to)));
  assert.equal(podPairs(plan.nodes, 50).length, all.length);
});

test('the per-pod ping script: one line per destination, whatever order the pings end in', async () => {
  // A stand-in ping that writes its report in pieces with pauses, the later addresses ending first.
  const dir = mkdtempSync(path.join(tmpdir(), 'sc1-ping-'));
  try {
    const fake = path.join(dir, 'ping');
    writeFileSync(fake, [
      '#!/bin/sh',
      'for a do ip=$a; done',
      'echo "PING $ip ($ip) 56(84) bytes of data."',
      'case $ip in 10.1.[0-9].*) sleep 0.3;; 10.1.1?.*) sleep 0.2;; esac',
      'echo',
      'echo "--- $ip ping statistics ---"',
      'case $ip in *.9) echo "3 packets transmitted, 0 received, 100% packet loss, time 2001ms";;',
      '*) echo "3 packets transmitted, 3 received, 0% packet loss, time 402ms"; echo "rtt min/avg/max/mdev = 0.1/0.2/0.3/0.05 ms";; esac',
    ].join('\n'));
    chmodSync(fake, 0o755);
    const ips = Array.from({ length: 40 }, (_, i) => `10.1.${i}.${i % 10}`);
    const r = await run(['env', `PATH=${dir}:/usr/bin:/bin`, ...pingAllArgv(3, 0.2, 2, ips)]);
    assert.deepEqual(r.stdout.trim().split('\n').map((l) => l.split(' ')[0]), ips, 'a line per destination, in the order asked');
    const m = parsePingLines(r.stdout);
    for (const ip of ips) assert.deepEqual(m.get(ip), ip.endsWith('.9') ? { sent: 3, received: 0, rttMs: null } : { sent: 3, received: 3, rttMs: 0.2 }, ip);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the per-pod ping script needs nothing from PATH but ping: sh, mktemp and rm are the system\'s', async () => {
  // As in `up` on a PATH that holds only what the cluster asks for (netns/up-missing-programs).
  const dir = mkdtempSync(path.join(tmpdir(), 'sc1-ping-path-'));
  try {
    const fake = path.join(dir, 'ping');
    writeFileSync(fake, '#!/bin/sh\nfor a do ip=$a; done\necho "1 packets transmitted, 1 received, 0% packet loss, time 0ms"\n');
    chmodSync(fake, 0o755);
    const r = await run(['/usr/bin/env', `PATH=${dir}`, ...pingAllArgv(1, 0.2, 1, ['10.9.0.1', '10.9.0.2'])]);
    const m = parsePingLines(r.stdout);
    assert.deepEqual([m.get('10.9.0.1')?.received, m.get('10.9.0.2')?.received], [1, 1], r.stdout + r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the per-pod ping script with the real ping, on loopback: a fractional deadline (verify: 8 pings 0.2 s apart, 3.6 s) is accepted', async () => {
  const r = await run(pingAllArgv(8, 0.2, 8 * 0.2 + 2, ['127.0.0.1']), { timeoutMs: 20_000 });
  assert.deepEqual(parsePingLines(r.stdout).get('127.0.0.1')?.received, 8, r.stdout);
  const first = await run(pingAllArgv(1, 0.2, 3, ['127.0.0.1']), { timeoutMs: 20_000 });
  assert.deepEqual(parsePingLines(first.stdout).get('127.0.0.1')?.received, 1, first.stdout);
});
