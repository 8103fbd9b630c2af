import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseStoreOption, StoreSpecError } from '../../src/store/open-store.js';
import { loadStoreConfig, parseStoreConfig } from '../../src/store/store-config.js';
import { decodeEntry, etcdKey, prefixRangeEnd } from '../../src/store/etcd-keys.js';

const rejects = (fn: () => unknown, where: string, problem: RegExp): void => {
  assert.throws(fn, (e: unknown) => e instanceof StoreSpecError && e.where === where && problem.test(e.problem));
};

test('--store: etcd endpoints and dir: paths; bad values name the option and say what is expected', () => {
  assert.deepEqual(parseStoreOption('etcd://127.0.0.1:2379,etcd-1.example:2379,[fd00::1]:2379'), {
    kind: 'etcd', endpoints: ['127.0.0.1:2379', 'etcd-1.example:2379', '[fd00::1]:2379'], prefix: '/overlay-ipsec/default',
  });
  assert.deepEqual(parseStoreOption('etcd://10.0.0.1:2379', { cluster: 'prod' }), { kind: 'etcd', endpoints: ['10.0.0.1:2379'], prefix: '/overlay-ipsec/prod' });
  assert.deepEqual(parseStoreOption('dir:/tmp/x'), { kind: 'fs', dir: '/tmp/x' });
  rejects(() => parseStoreOption('etcd://'), '--store', /names no etcd endpoint/);
  rejects(() => parseStoreOption('etcd://10.0.0.1'), '--store', /not HOST:PORT/);
  rejects(() => parseStoreOption('etcd://10.0.0.1:99999'), '--store', /out of range/);
  rejects(() => parseStoreOption('etcd://https://10.0.0.1:2379'), '--store', /HOST:PORT only/);
  rejects(() => parseStoreOption('redis://x:1'), '--store', /not etcd:\/\/HOST:PORT/);
  rejects(() => parseStoreOption('etcd://a:1', { cluster: 'no/slash' }), '--store', /cluster name/);
});

test('store config file: endpoints, cluster or prefix, TLS paths relative to the file; errors name file and key', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'oi-storecfg-'));
  try {
    const file = path.join(dir, 'store.yaml');
    await writeFile(file, 'endpoints: [10.0.0.1:2379, 10.0.0.2:2379]\ncluster: prod\ntls: { ca: ca.pem, cert: /etc/x/c.pem, key: k.pem }\ncallTimeoutMs: 2000\n');
    assert.deepEqual(await loadStoreConfig(file), {
      kind: 'etcd', endpoints: ['10.0.0.1:2379', '10.0.0.2:2379'], prefix: '/overlay-ipsec/prod',
      tls: { ca: path.join(dir, 'ca.pem'), cert: '/etc/x/c.pem', key: path.join(dir, 'k.pem') }, callTimeoutMs: 2000,
    });
    // A join section is the join file's (etcd-join-file.test.ts): checked whole, so a made-up one is refused.
    rejects(() => parseStoreConfig('{"endpoints": ["h:1"], "prefix": "/x/y", "tls": {"caPem": "PEM"}, "join": {"node": "w0"}}', 'j.json'), 'j.json', /not a join file/);
    rejects(() => parseStoreConfig('endpoints: []', 'f'), 'f: endpoints', /at least one/);
    rejects(() => parseStoreConfig('endpoints: [h]', 'f'), 'f: endpoints.0', /not HOST:PORT/);
    rejects(() => parseStoreConfig('endpoints: [h:1]\nendpiont: 1', 'f'), 'f', /unknown key "endpiont"/);
    rejects(() => parseStoreConfig('endpoints: [h:1]\ntls: {cert: c}', 'f'), 'f: tls.ca', /CA/);
    rejects(() => parseStoreConfig('endpoints: [h:1]\ncluster: a\nprefix: /b', 'f'), 'f: prefix', /not both/);
    rejects(() => parseStoreConfig('endpoints: [h:1]\ncallTimeoutMs: 5', 'f'), 'f: callTimeoutMs', /.+/);
    rejects(() => parseStoreConfig('- just\n- a list', 'f'), 'f', /mapping/);
    rejects(() => parseStoreConfig('endpoints: [h:1', 'f'), 'f', /not YAML/);
    await assert.rejects(loadStoreConfig(path.join(dir, 'missing.yaml')), (e: unknown) => e instanceof StoreSpecError && /ENOENT/.test(e.problem));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('etcd keys: one encoded segment per key; values read back are checked against the schema', () => {
  const p = '/overlay-ipsec/default';
  assert.equal(etcdKey(p, 'subnets', '10.0.0.0/24'), '/overlay-ipsec/default/subnets/10.0.0.0%2F24');
  assert.equal(etcdKey(p, 'nodes', 'worker-0.a'), '/overlay-ipsec/default/nodes/worker-0.a');
  assert.deepEqual(prefixRangeEnd('/a/'), Buffer.from('/a0'));
  const good = { cidr: '10.0.0.0/24', node: 'w', allocated_at: '2026-01-01T00:00:00Z' };
  const ok = decodeEntry(p, 'subnets', `${p}/subnets/10.0.0.0%2F24`, Buffer.from(JSON.stringify(good)));
  assert.deepEqual(ok, { ok: true, key: '10.0.0.0/24', value: good });
  const bad = (k: string, v: string): string => {
    const d = decodeEntry(p, 'subnets', k, Buffer.from(v));
    assert.equal(d.ok, false);
    return (d as { problem: string }).problem;
  };
  assert.match(bad(`${p}/subnets/x`, '{"cidr": 1'), /not valid JSON/);
  assert.match(bad(`${p}/subnets/x`, '{"cidr": "c"}'), /^node: /);
  assert.match(bad(`${p}/subnets/x`, '"a string"'), /\(document\)/);
  assert.match(bad(`${p}/subnets/a/b`, JSON.stringify(good)), /not a store key/);
  assert.match(bad(`${p}/subnets/%zz`, JSON.stringify(good)), /not URI-encoded/);
  assert.match(bad(`${p}/subnets/`, JSON.stringify(good)), /not a store key/);
});
