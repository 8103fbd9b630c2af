// The lease keeper's view of its lease when renewals stop being answered: the lapse is announced
// when the lease ends, not when a keep-alive cut off from etcd finally gives up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { LeaseKeeper } from '../../src/store/etcd-lease.js';

/** An etcd client whose lease is granted at once and whose keep-alives fail only after `slowMs`. */
function clientWithSlowKeepalives(slowMs: number): Etcd3 {
  const lease = {
    on: () => {},
    grant: async () => '7',
    keepaliveOnce: () => new Promise((_, reject) => setTimeout(() => reject(new Error('deadline exceeded')), slowMs)),
    release: () => {},
    revoke: async () => {},
  };
  return { lease: () => lease } as unknown as Etcd3;
}

test('LeaseKeeper: a lease whose renewals hang is reported lapsed when its TTL ends', async () => {
  const events: { at: number; what: string }[] = [];
  const t0 = Date.now();
  const keeper = new LeaseKeeper({
    client: clientWithSlowKeepalives(3000),
    ttlSec: 2,
    onGranted: async () => {},
    onContact: (ok) => events.push({ at: Date.now() - t0, what: ok ? 'answered' : 'failed' }),
    onLapse: () => events.push({ at: Date.now() - t0, what: 'lapsed' }),
  });
  keeper.start();
  try {
    await new Promise((r) => setTimeout(r, 2600));
    assert.equal(keeper.alive(), false);
    const lapse = events.find((e) => e.what === 'lapsed');
    assert.ok(lapse, JSON.stringify(events));
    assert.ok(lapse.at >= 1900 && lapse.at < 2500, `lapsed at ${lapse.at} ms of a 2 s lease`);
    // Nothing but the grant was answered, and no keep-alive had failed yet when the lapse came.
    assert.deepEqual(events.map((e) => e.what), ['answered', 'lapsed']);
  } finally {
    await keeper.stop();
  }
  assert.equal(events.filter((e) => e.what === 'lapsed').length, 1);
});
