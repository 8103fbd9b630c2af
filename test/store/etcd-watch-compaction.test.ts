import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { openEtcdStore } from '../../src/store/open-store.js';
import type { EtcdStore } from '../../src/store/etcd-store.js';
import type { Snapshot } from '../../src/store/etcd-watch.js';
import type { NodeDoc, WatchEvent } from '../../src/store/index.js';
import { EtcdCluster } from '../helpers/etcd.js';
import { nodeDoc, until } from './contract.js';

// A watch whose stream etcd cancels because the revision it asked for was compacted away: the
// watcher must list again and tell its caller only what changed meanwhile — puts for new and
// changed keys, deletes for keys gone — nothing lost, nothing said twice.
//
// To open that gap deterministically, the store's first listing is held back: it takes the
// snapshot at R, then the test changes the collection and compacts etcd past R, and only then
// hands the (old) snapshot to the watch, which asks etcd to watch from R+1 — already compacted.

let etcd: EtcdCluster;
before(async () => {
  etcd = await EtcdCluster.start({ members: 1 });
});
after(async () => {
  await etcd.close();
});

type Lister = { listRaw(c: string): Promise<Snapshot> };

test('a watch cancelled by compaction re-lists and emits only the differences (a delete in the gap included)', { timeout: 60_000 }, async () => {
  const spec = etcd.storeSpec({ prefix: `/overlay-ipsec/compaction-${process.pid}` });
  assert.equal(spec.kind, 'etcd');
  if (spec.kind !== 'etcd') return;
  const store: EtcdStore = await openEtcdStore(spec);
  try {
    await store.put('nodes', 'kept', nodeDoc('kept', 1));
    await store.put('nodes', 'changed', nodeDoc('changed', 2));
    await store.put('nodes', 'gone', nodeDoc('gone', 3));

    const lister = store as unknown as Lister;
    const listRaw = lister.listRaw.bind(store);
    let lists = 0;
    let snapRevision = 0;
    let compactedAt = 0;
    lister.listRaw = async (c) => {
      const snap = await listRaw(c);
      if (++lists === 1) {
        snapRevision = snap.revision;
        await store.put('nodes', 'changed', nodeDoc('changed', 20));
        await store.delete('nodes', 'gone');
        await store.put('nodes', 'new', nodeDoc('new', 4));
        compactedAt = await etcd.compact();
      }
      return snap;
    };

    const events: WatchEvent<NodeDoc>[] = [];
    const errors: Error[] = [];
    const stop = store.watch('nodes', (ev) => events.push(ev), { onError: (e) => errors.push(e) });
    try {
      await until(() => events.length >= 6, 15_000, 'the snapshot and the differences after the re-list');
      await new Promise((r) => setTimeout(r, 300)); // anything said twice would come now
      assert.ok(compactedAt > snapRevision, `compacted at ${compactedAt}, past the first snapshot's ${snapRevision}`);
      assert.ok(lists >= 2, 'the watch listed again after etcd cancelled it');

      const seen = events.map((e) => `${e.type} ${e.key}${e.value ? ` ${e.value.system_id.slice(-2)}` : ''}`);
      // The first snapshot (as of R), then only what the gap changed.
      assert.deepEqual(seen.slice(0, 3).sort(), ['put changed 02', 'put gone 03', 'put kept 01']);
      assert.deepEqual(seen.slice(3).sort(), ['delete gone', 'put changed 20', 'put new 04']);
      for (const ev of events.slice(3)) assert.ok(ev.revision > snapRevision, `${ev.type} ${ev.key} at ${ev.revision} is after the snapshot`);

      // The watch goes on from the re-listed revision: a later change arrives, once.
      const r = await store.put('nodes', 'kept', nodeDoc('kept', 5));
      await until(() => events.length >= 7, 10_000, 'a change after the re-list');
      await new Promise((res) => setTimeout(res, 300));
      assert.equal(events.length, 7);
      assert.deepEqual([events[6]?.type, events[6]?.key, events[6]?.revision], ['put', 'kept', r]);
      assert.deepEqual(errors, []);

      // What the watcher holds is what the store holds.
      const state = new Map<string, number>();
      for (const ev of events) ev.type === 'put' ? state.set(ev.key, ev.revision) : state.delete(ev.key);
      const listed = (await store.list('nodes')).map((e) => [e.key, e.revision]);
      assert.deepEqual([...state].sort(), listed.sort());
    } finally {
      stop();
    }
  } finally {
    await store.close();
  }
});
