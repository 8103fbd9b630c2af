import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import { openStore } from '../../src/store/open-store.js';
import { CA_BUNDLE_KEY } from '../../src/store/index.js';
import { etcdKey } from '../../src/store/etcd-keys.js';
import { loadOrCreateIdentity, type NodeIdentity } from '../../src/pki/node-identity.js';
import { registerNode, submitCsr } from '../../src/pki/enroll.js';
import { generateKeyPair } from '../../src/pki/keys.js';
import { createNodeCsr } from '../../src/pki/node-csr.js';
import { EtcdCluster } from '../helpers/etcd.js';
import { waitFor } from '../helpers/netns.js';
import { cliPath, repoRoot } from '../helpers/paths.js';
import { LivenessLease } from '../../src/store/etcd-liveness.js';
import { SEED_CONFIG } from '../unit/operator-harness.js';

// Operator high availability: two operators on one etcd, the leader kill -9'd while 20 CSRs
// wait for it. The other takes over within seconds and signs every one exactly once (each
// certificate key written once: etcd's per-key version is 1), and no subnet is given twice.

const TOOL = path.join(repoRoot, 'dist', 'test', 'tools', 'etcd-operator.js');
const PREFIX = '/overlay-ipsec/default';

function startOperator(etcd: EtcdCluster, stateDir: string, log: string[]): ChildProcess {
  const p = spawn(process.execPath, [TOOL, etcd.endpoints.join(','), PREFIX, stateDir, ...SEED_CONFIG], { stdio: ['ignore', 'ignore', 'pipe'] });
  p.stderr!.setEncoding('utf8');
  p.stderr!.on('data', (d: string) => log.push(...d.split('\n').filter(Boolean)));
  return p;
}

const logged = (log: string[], msg: string): number => log.filter((l) => l.includes(`"msg":"${msg}"`)).length;

test('kill -9 of the leading operator with 20 CSRs pending: the other leads within seconds, every CSR signed exactly once, no subnet twice; a CSR naming another node refused; nodes --store lists them with their liveness', { timeout: 120_000 }, async (t) => {
  const etcd = await EtcdCluster.start();
  const stateDir = await mkdtemp(path.join(tmpdir(), 'oi-ha-'));
  const store = await openStore(etcd.storeSpec({ prefix: PREFIX }));
  const raw = new Etcd3({ hosts: etcd.endpoints.map((e) => `http://${e}`) });
  const logA: string[] = [];
  const logB: string[] = [];
  const ops: ChildProcess[] = [];
  try {
    ops.push(startOperator(etcd, stateDir, logA));
    const [a] = ops as [ChildProcess];
    await waitFor(async () => (await store.get('ca', CA_BUNDLE_KEY)) !== undefined && logged(logA, 'elected operator leader') === 1, 'operator A leads and made the CA', 30_000, 100);
    ops.push(startOperator(etcd, stateDir, logB));
    const b = ops[1]!;
    await waitFor(async () => (await raw.getAll().prefix(`${PREFIX}/election/operator/`).keys()).length === 2, 'operator B stands', 20_000, 100);
    assert.equal(logged(logB, 'elected operator leader'), 0, 'B waits while A leads');

    // Twenty nodes ready to ask (keys and CSRs made beforehand, so the requests land at once).
    const nodes: { id: NodeIdentity; csr: string }[] = [];
    for (let i = 0; i < 20; i++) {
      const id = await loadOrCreateIdentity(stateDir, `node${i}`);
      nodes.push({ id, csr: await createNodeCsr(await generateKeyPair('ecdsa'), id.systemId) });
    }
    // A stops between two keep-alives (its lease still held), the requests arrive, then kill -9.
    a.kill('SIGSTOP');
    await Promise.all(nodes.map(async (n) => {
      await registerNode(store, n.id, Date.now);
      await submitCsr(store, n.id.name, n.csr, Date.now);
    }));
    const killedAt = Date.now();
    a.kill('SIGKILL');
    await once(a, 'exit');
    const pending = (await store.list('csrs')).filter((c) => c.value.status === 'pending').length;
    assert.equal(pending, 20, 'all 20 CSRs pending when the leader died');

    await waitFor(async () => (await store.list('csrs')).every((c) => c.value.status === 'approved') && (await store.list('subnets')).length === 20, 'every CSR approved and every node given a subnet by B', 30_000, 100);
    const handover = Date.now() - killedAt;
    t.diagnostic(`all 20 signed ${handover} ms after the kill (lease TTL 3 s)`);
    assert.ok(handover < 8000, `B took over and signed within seconds (${handover} ms)`);
    assert.equal(logged(logB, 'elected operator leader'), 1);

    for (const n of nodes) {
      const csr = (await store.get('csrs', n.id.name))!.value;
      const cert = (await store.get('certificates', n.id.name))!.value;
      assert.equal(cert.request_id, csr.request_id, n.id.name);
      assert.equal(csr.certificate_serial, cert.serial, n.id.name);
      const kv = (await raw.get(etcdKey(PREFIX, 'certificates', n.id.name)).exec()).kvs[0]!;
      assert.equal(String(kv.version), '1', `${n.id.name}: its certificate written exactly once`);
    }
    const signed = [...logA, ...logB].filter((l) => l.includes('"msg":"signed node certificate"')).map((l) => (JSON.parse(l) as { node: string }).node);
    assert.deepEqual(signed.sort(), nodes.map((n) => n.id.name).sort(), 'one signing per node across both operators');
    const subnets = await store.list('subnets');
    assert.deepEqual(subnets.map((s) => s.value.node).sort(), nodes.map((n) => n.id.name).sort(), 'one subnet per node');
    for (const s of subnets) assert.equal(String((await raw.get(etcdKey(PREFIX, 'subnets', s.key)).exec()).kvs[0]!.version), '1', `${s.key} allocated once`);

    // A CSR naming another node (Y's system-id as CN) written under X's key is refused, and says why.
    const [x, y] = nodes as [typeof nodes[0], typeof nodes[0]];
    await submitCsr(store, x.id.name, createNodeCsr(await generateKeyPair('ecdsa'), y.id.systemId), Date.now);
    await waitFor(async () => (await store.get('csrs', x.id.name))!.value.status === 'denied', 'the forged CSR refused', 20_000, 100);
    const reason = `CSR CN ${y.id.systemId} is the system-id of node ${y.id.name}, not of this node (${x.id.systemId})`;
    assert.equal((await store.get('csrs', x.id.name))!.value.reason, reason);
    assert.ok(logB.some((l) => l.includes('"msg":"refused node CSR"') && l.includes(reason)), 'the refusal is logged with its reason');
    assert.equal(String((await raw.get(etcdKey(PREFIX, 'certificates', x.id.name)).exec()).kvs[0]!.version), '1', 'nothing signed for it');

    // overlay-ipsec nodes on etcd: every node with its subnet and certificate; connected only the
    // one holding a liveness lease.
    const live = new LivenessLease({ client: raw, prefix: PREFIX, node: x.id.name, systemId: x.id.systemId });
    live.start();
    try {
      await waitFor(async () => (await raw.getAll().prefix(`${PREFIX}/liveness/`).keys()).length === 1, 'the liveness key', 10_000, 50);
      const out = spawnSync(process.execPath, [cliPath, 'nodes', '--store', `etcd://${etcd.endpoints.join(',')}`, '--json'], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(out.status, 0, out.stderr);
      const rows = JSON.parse(out.stdout) as { node: string; subnet: string | null; certificate: { serial: string } | null; control_plane: string }[];
      assert.deepEqual(rows.map((r) => r.node).sort(), nodes.map((n) => n.id.name).sort());
      for (const r of rows) {
        assert.equal(r.subnet, subnets.find((s) => s.value.node === r.node)!.key);
        assert.equal(r.certificate?.serial, (await store.get('certificates', r.node))!.value.serial);
        assert.equal(r.control_plane, r.node === x.id.name ? 'connected' : 'unreachable', r.node);
      }
    } finally {
      await live.stop();
    }

    b.kill('SIGTERM');
    const [code] = (await once(b, 'exit')) as [number | null];
    assert.equal(code, 0, 'B stops cleanly');
    assert.deepEqual(await raw.getAll().prefix(`${PREFIX}/election/`).keys(), [], 'a clean stop resigns: no election key left');
  } finally {
    for (const p of ops) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    raw.close();
    await store.close();
    await etcd.close();
    await rm(stateDir, { recursive: true, force: true });
  }
});
