import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import { Election } from '../../src/store/etcd-election.js';
import { LivenessLease, livenessKey, readLiveness } from '../../src/store/etcd-liveness.js';
import { EtcdCluster } from '../helpers/etcd.js';
import { waitFor } from '../helpers/netns.js';
import { repoRoot } from '../helpers/paths.js';

// The operator election and the agents' liveness keys on a real one-member etcd.

let etcd!: EtcdCluster;
let n = 0;
before(async () => void (etcd = await EtcdCluster.start()));
after(() => etcd.close());

/** A client of its own per candidate, as separate operators have. */
function client(): Etcd3 {
  return new Etcd3({ hosts: etcd.endpoints.map((e) => `http://${e}`), dialTimeout: 1000 });
}

test('one leader of three candidates; a resigning leader hands over within a keep-alive; the candidates are listed', { timeout: 60_000 }, async () => {
  const prefix = `/oi-test/election-${n++}`;
  const clients = [client(), client(), client()];
  const changes: string[] = [];
  const cands = clients.map((c, i) => new Election({ client: c, prefix, name: 'operator', value: `op${i}`, ttlSec: 3, onChange: (l) => changes.push(`op${i} ${l}`) }));
  try {
    cands[0]!.start();
    await cands[0]!.waitLeader();
    cands[1]!.start();
    await waitFor(() => cands[0]!.observed().candidates.length === 2 || cands[1]!.observed().candidates.length === 2, 'op1 stands', 10_000, 20);
    cands[2]!.start();
    await waitFor(() => cands.every((c) => c.observed().candidates.length === 3), 'every candidate sees all three', 10_000, 50);
    assert.deepEqual(cands.map((c) => c.isLeader()), [true, false, false]);
    assert.deepEqual(cands[2]!.observed(), { leader: 'op0', candidates: ['op0', 'op1', 'op2'] });
    const t0 = Date.now();
    await cands[0]!.stop();
    await waitFor(() => cands[1]!.isLeader(), 'op1 leads after op0 resigned', 5000, 20);
    assert.ok(Date.now() - t0 < 2000, `handed over in ${Date.now() - t0} ms (one keep-alive period is 1 s)`);
    assert.equal(cands[2]!.isLeader(), false);
    assert.deepEqual(changes, ['op0 true', 'op0 false', 'op1 true']);
  } finally {
    for (const c of cands) await c.stop();
    for (const c of clients) c.close();
  }
});

test('a leader cut off from etcd stops leading before its lease can have ended in etcd, and leads again when etcd is back', { timeout: 90_000 }, async () => {
  const prefix = `/oi-test/election-${n++}`;
  const c = client();
  let stoppedAt = 0;
  let lostAt = 0;
  const e = new Election({ client: c, prefix, name: 'operator', value: 'op', ttlSec: 3, callTimeoutMs: 500, onChange: (l) => { if (!l) lostAt = Date.now(); } });
  try {
    e.start();
    await e.waitLeader();
    const m = etcd.members[0]!;
    stoppedAt = Date.now();
    await etcd.stop(m);
    await waitFor(() => !e.isLeader(), 'the leader gives up leading without etcd', 10_000, 20);
    // Its last answered keep-alive was sent at most a keep-alive period (1 s) before the stop; etcd
    // keeps the lease 3 s from when it received that keep-alive. The leader stops within that.
    assert.ok(lostAt - stoppedAt <= 3000, `stopped leading ${lostAt - stoppedAt} ms after etcd went away (TTL 3 s)`);
    await etcd.restart(m);
    await waitFor(() => e.isLeader(), 'leads again once etcd answers', 30_000, 50);
  } finally {
    await e.stop();
    c.close();
  }
});

test('liveness: a lease-bound key per node, gone at once on a clean stop, gone within the TTL after its holder is killed', { timeout: 60_000 }, async () => {
  const prefix = `/oi-test/liveness-${n++}`;
  const c = client();
  const held: boolean[] = [];
  const a = new LivenessLease({ client: c, prefix, node: 'worker0', systemId: '11111111-1111-1111-1111-111111111111', ttlSec: 2, onState: (h) => held.push(h) });
  const b = new LivenessLease({ client: c, prefix, node: 'worker1', systemId: '22222222-2222-2222-2222-222222222222', ttlSec: 2 });
  try {
    a.start();
    b.start();
    await waitFor(async () => (await readLiveness(c, prefix)).size === 2, 'both liveness keys', 10_000, 50);
    const live = await readLiveness(c, prefix);
    assert.equal(live.get('worker0')?.system_id, '11111111-1111-1111-1111-111111111111');
    assert.equal(live.get('worker0')?.pid, process.pid);
    assert.ok(a.held() && held.includes(true));
    // Garbage under the liveness prefix is reported and skipped.
    await c.put(livenessKey(prefix, 'junk')).value('{not json');
    const problems: string[] = [];
    assert.deepEqual([...(await readLiveness(c, prefix, (k, p) => problems.push(`${k}: ${p}`))).keys()].sort(), ['worker0', 'worker1']);
    assert.deepEqual(problems, [`${livenessKey(prefix, 'junk')}: not JSON`]);
    await a.stop();
    assert.deepEqual([...(await readLiveness(c, prefix)).keys()], ['worker1'], 'a clean stop revokes the lease: the key is gone at once');
    // A holder killed with -9 stops renewing: its key outlives it by at most the TTL, then etcd deletes it.
    const holder = spawn(process.execPath, ['--input-type=module', '-e', [
      `import { spawn } from 'node:child_process';
import path from 'node:path';
import { Etcd3 } from 'etcd3';`,
      `import { LivenessLease } from ${JSON.stringify(path.join(repoRoot, 'dist', 'src', 'store', 'etcd-liveness.js'))};`,
      `const l = new LivenessLease({ client: new Etcd3({ hosts: ${JSON.stringify(etcd.endpoints.map((e) => `http://${e}`))} }), prefix: ${JSON.stringify(prefix)}, node: 'worker2', systemId: '33333333-3333-3333-3333-333333333333', ttlSec: 2 });`,
      `l.start();`,
    ].join('\n')], { cwd: repoRoot, stdio: 'ignore' });
    try {
      await waitFor(async () => (await readLiveness(c, prefix)).has('worker2'), 'the child process holds its key', 10_000, 50);
      const t0 = Date.now();
      holder.kill('SIGKILL');
      await waitFor(async () => !(await readLiveness(c, prefix)).has('worker2'), 'the key of the killed holder expires', 10_000, 100);
      assert.ok(Date.now() - t0 <= 3500, `expired ${Date.now() - t0} ms after the kill (TTL 2 s)`);
    } finally {
      holder.kill('SIGKILL');
    }
    assert.ok((await readLiveness(c, prefix)).has('worker1'), 'the renewed key stays');
  } finally {
    await a.stop();
    await b.stop();
    c.close();
  }
});
