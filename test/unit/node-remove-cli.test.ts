import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { FsStore, storeDir } from '../../src/store/index.js';
import { cliPath } from '../helpers/paths.js';

// `overlay-ipsec node remove NODE` on the directory store: exit 0 and what went (JSON or text),
// exit 1 for a node the store does not know, exit 2 for bad usage. The store side (every record,
// on both stores) is test/store/node-removal.ts; peers dropping the tunnel, test/netns/agent-cluster.

function run(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cliPath, 'node', 'remove', ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('node remove: the directory store; unknown node exit 1, bad usage exit 2', async () => {
  const stateDir = await mkdtemp(path.join(tmpdir(), 'oi-noderm-'));
  try {
    const store = await FsStore.open(storeDir(stateDir));
    const T = '2026-01-01T00:00:00.000Z';
    for (const [i, n] of ['w0', 'w1'].entries()) {
      await store.put('nodes', n, { name: n, system_id: `00000000-0000-4000-8000-00000000000${i}`, registered_at: T, trusted_ca: [] });
      await store.put('subnets', `10.254.${i}.0/24`, { cidr: `10.254.${i}.0/24`, node: n, allocated_at: T });
    }
    await store.close();

    const r = run(['w0', '--state-dir', stateDir, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { node: 'w0', registration: true, csr: false, certificate: false, dataplane: false, subnets: ['10.254.0.0/24'], liveness: null, etcd_user: null, etcd_user_deleted: null });
    const text = run(['w1', '--state-dir', stateDir]);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout, 'removed node w1: registration, subnet 10.254.1.0/24\n');

    const gone = run(['w0', '--state-dir', stateDir]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /node w0: not found \(no registration, CSR, certificate, subnet, data-plane or liveness record in .*store\)/);
    assert.equal(gone.stdout, '');

    for (const [args, msg] of [
      [['Bad_Name', '--state-dir', stateDir], /node: node name "Bad_Name" must be lowercase/],
      [['w0', '--state-dir', path.join(stateDir, 'none')], /--state-dir .*none: no store there/],
      [['w0', '--state-dir', stateDir, '--admin-dir', path.join(stateDir, 'none')], /--admin-dir: .*admin\.json: cannot read it/],
      [['w0', '--store', 'etcd://h', '--state-dir', stateDir], /--store: endpoint "h" is not HOST:PORT/],
      [['--state-dir', stateDir], /missing required argument 'node'/],
    ] as const) {
      const u = run([...args]);
      assert.equal(u.code, 2, `${args.join(' ')}: ${u.stderr}`);
      assert.match(u.stderr, msg);
    }
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
});
