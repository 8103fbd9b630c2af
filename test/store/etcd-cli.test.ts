import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { cliPath, repoRoot } from '../helpers/paths.js';
import { EtcdCluster } from '../helpers/etcd.js';
import { openStore, CA_BUNDLE_KEY } from '../../src/store/index.js';

// The commands on etcd: an operator and nodes that share no directory, only a 3-member etcd
// (with mutual TLS). Garbage and wrong-schema documents an administrator writes under the prefix
// are reported (key and problem) and skipped; the cluster keeps enrolling nodes.

const SEED_CONFIG = [path.join(repoRoot, 'examples', 'install-config.yaml'), path.join(repoRoot, 'examples', 'manifests', 'cluster-network-03-config.yml')];

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [cliPath, ...args]);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('operator and pki enroll/show through a 3-member etcd with TLS; admin garbage is reported and skipped', { timeout: 240_000 }, async () => {
  const etcd = await EtcdCluster.start({ members: 3, tls: true });
  const base = await mkdtemp(path.join(tmpdir(), 'oi-etcd-cli-'));
  const opDir = path.join(base, 'operator-host');
  const storeArgs = (cn: string): string[] => {
    const c = etcd.clientCert(cn);
    return ['--store', `etcd://${etcd.endpoints.join(',')}`, '--store-cluster', 'e2e', '--etcd-ca', etcd.caPath, '--etcd-cert', c.cert, '--etcd-key', c.key];
  };
  const logFile = path.join(base, 'operator.log');
  const log = await open(logFile, 'w');
  const op = spawn(process.execPath, [cliPath, 'operator', '--state-dir', opDir, '--config', ...SEED_CONFIG, '--underlay-mtu', '1546', '--tick-ms', '200', ...storeArgs('operator')], { stdio: ['ignore', log.fd, log.fd] });
  const exited = new Promise<number | string | null>((resolve) => op.on('exit', (code, sig) => resolve(sig ?? code)));
  const admin = await openStore(etcd.storeSpec({ prefix: '/overlay-ipsec/e2e' }));
  try {
    for (let i = 0; !(await admin.get('ca', CA_BUNDLE_KEY).catch(() => undefined)); i++) {
      assert.ok(i < 600 && op.exitCode === null, `the operator stored no CA bundle in etcd:\n${await readFile(logFile, 'utf8')}`);
      await new Promise((r) => setTimeout(r, 100));
    }

    const w0 = await run(['pki', 'enroll', '--node', 'worker0', '--state-dir', path.join(base, 'worker0-host'), '--key-algorithm', 'ecdsa', '--timeout', '60', '--json', ...storeArgs('node:worker0')]);
    assert.equal(w0.code, 0, w0.stderr);
    assert.equal((JSON.parse(w0.stdout) as { node: string }).node, 'worker0');

    // An administrator's mistakes, written with etcdctl under the cluster's prefix.
    const root = etcd.clientCert('root');
    const etcdctl = (...args: string[]): void => {
      const r = spawnSync('etcdctl', ['--endpoints', etcd.endpoints.join(','), '--cacert', etcd.caPath, '--cert', root.cert, '--key', root.key, ...args], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    };
    etcdctl('put', '/overlay-ipsec/e2e/nodes/junk', 'this is not JSON');
    etcdctl('put', '/overlay-ipsec/e2e/csrs/worker9', '{"node": "worker9", "status": "approved"}');
    etcdctl('put', '/overlay-ipsec/e2e/subnets/a/b', '{}');
    etcdctl('put', '/overlay-ipsec/e2e/certificates/worker0x', '[1,2,3]');

    const w1 = await run(['pki', 'enroll', '--node', 'worker1', '--state-dir', path.join(base, 'worker1-host'), '--key-algorithm', 'ecdsa', '--timeout', '60', ...storeArgs('node:worker1')]);
    assert.equal(w1.code, 0, w1.stderr);
    assert.match(w1.stdout, /enrolled node worker1/);

    const show = await run(['pki', 'show', '--state-dir', base, '--json', ...storeArgs('admin')]);
    // The damaged certificate is named and left out, the rest shown, and the exit code says so.
    assert.equal(show.code, 1, show.stderr);
    assert.match(show.stderr, /3 damaged store documents left out/);
    const shown = JSON.parse(show.stdout) as { nodes: { node: string; subnet: string | null }[] };
    assert.deepEqual(shown.nodes.map((n) => n.node).sort(), ['worker0', 'worker1']);
    assert.ok(shown.nodes.every((n) => n.subnet !== null));
    assert.match(show.stderr, /corrupt store document \/overlay-ipsec\/e2e\/certificates\/worker0x: \(document\): .* \(left out\)/);

    const text = await readFile(logFile, 'utf8');
    for (const [key, problem] of [['nodes/junk', 'not valid JSON'], ['csrs/worker9', 'request_id'], ['subnets/a/b', 'not a store key']] as const)
      assert.ok(text.includes(`/overlay-ipsec/e2e/${key}: ${problem}`), `the operator log names ${key} and what is wrong (${problem}):\n${text.slice(-3000)}`);
    assert.equal(op.exitCode, null, 'the operator is still running');
  } finally {
    op.kill('SIGTERM');
    const how = await exited;
    await log.close();
    await admin.close();
    await etcd.close();
    await rm(base, { recursive: true, force: true });
    assert.equal(how, 0, 'the operator stops cleanly on SIGTERM');
  }
});
