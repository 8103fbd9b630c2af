import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore, StoreUnavailableError, type StoreSpec } from '../../src/store/index.js';
import { EtcdCluster } from '../helpers/etcd.js';
import { nodeDoc } from './contract.js';

// The test helper's TLS cluster and the store's client TLS: mutual TLS works with a certificate
// from the cluster's CA; without one, or trusting another CA, no call gets through (and says so
// by its deadline, without hanging).

test('etcd with mutual TLS: a client certificate from its CA gets in, none does not', async () => {
  const etcd = await EtcdCluster.start({ members: 3, tls: true });
  try {
    assert.equal(etcd.running().length, 3);
    const leader = await etcd.leader();
    assert.ok(etcd.members.includes(leader));
    const spec = etcd.storeSpec({ cn: 'operator' });
    const store = await openStore(spec);
    try {
      const r = await store.put('nodes', 'a', nodeDoc('a'));
      assert.equal((await store.get('nodes', 'a'))?.revision, r);
    } finally {
      await store.close();
    }
    const noCert = await openStore({ ...spec, tls: { ca: etcd.caPath }, callTimeoutMs: 1500 } as StoreSpec);
    try {
      await assert.rejects(noCert.get('nodes', 'a'), StoreUnavailableError);
    } finally {
      await noCert.close();
    }
    const plain = await openStore({ kind: 'etcd', endpoints: etcd.endpoints, prefix: '/overlay-ipsec/default', callTimeoutMs: 1500 });
    try {
      await assert.rejects(plain.get('nodes', 'a'), StoreUnavailableError);
    } finally {
      await plain.close();
    }
  } finally {
    await etcd.close();
  }
});
