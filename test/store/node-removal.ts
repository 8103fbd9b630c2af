import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Store } from '../../src/store/index.js';
import type { StoreSpec } from '../../src/store/open-store.js';
import { etcdHandleOf } from '../../src/store/etcd-handle.js';
import { etcdKey } from '../../src/store/etcd-keys.js';
import { livenessKey } from '../../src/store/etcd-liveness.js';
import { removeNodeRecords, removedAnything } from '../../src/store/node-removal.js';
import { nodeDoc, type Backend } from './contract.js';

/**
 * `node remove` on the store side, on each store: every record of the node goes (a damaged one
 * too), nothing of another node, and a node the store does not know removes nothing.
 */

const T = '2026-01-01T00:00:00.000Z';
const uuid = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/** Writes text that is not a document where `collection/key` lives, the way an administrator's mistake would. */
async function writeGarbage(store: Store, spec: StoreSpec, collection: 'csrs', key: string): Promise<void> {
  const etcd = etcdHandleOf(store);
  if (etcd) await etcd.client.put(etcdKey(etcd.prefix, collection, key)).value('not JSON');
  else if (spec.kind === 'fs') await writeFile(path.join(spec.dir, collection, `${key}.7.json`), '{"key":"');
}

async function seed(store: Store, node: string, n: number): Promise<void> {
  await store.put('nodes', node, nodeDoc(node, n));
  await store.put('certificates', node, { node, system_id: uuid(n), request_id: uuid(100 + n), pem: 'x', serial: String(n), subject: `CN=${uuid(n)}`, issuer: 'CN=ca', issuer_fingerprint: 'f', not_before: T, not_after: T });
  await store.put('subnets', `10.254.${n}.0/24`, { cidr: `10.254.${n}.0/24`, node, allocated_at: T });
  await store.put('dataplane', node, { node, wanted: 'Full', phase: 'Full', peers: {}, updated_at: T });
}

export function nodeRemovalSuite(b: Backend): void {
  test(`${b.name}: removing a node takes every record of it, a damaged one too, and nothing of the others`, async () => {
    const { store, spec, done } = await b.fresh();
    try {
      await seed(store, 'w0', 1);
      await seed(store, 'w1', 2);
      await writeGarbage(store, spec, 'csrs', 'w0');
      const etcd = etcdHandleOf(store);
      if (etcd) await etcd.client.put(livenessKey(etcd.prefix, 'w0')).value('{}');

      const r = await removeNodeRecords(store, 'w0');
      assert.deepEqual(r, { node: 'w0', registration: true, csr: true, certificate: true, dataplane: true, subnets: ['10.254.1.0/24'], liveness: etcd ? true : null });
      for (const c of ['nodes', 'certificates', 'dataplane'] as const) assert.deepEqual((await store.list(c)).map((e) => e.key), ['w1'], c);
      assert.deepEqual((await store.list('csrs', { onError: (e) => assert.fail(e.message) })).map((e) => e.key), []);
      assert.deepEqual((await store.list('subnets')).map((e) => e.value.node), ['w1']);
      if (etcd) assert.equal(await etcd.client.get(livenessKey(etcd.prefix, 'w0')).string(), null);

      const again = await removeNodeRecords(store, 'w0');
      assert.equal(removedAnything(again), false, JSON.stringify(again));
      assert.equal(removedAnything(await removeNodeRecords(store, 'w9')), false);
      assert.equal((await store.get('nodes', 'w1'))?.value.name, 'w1');
    } finally {
      await done();
    }
  });
}
