import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeSync, type NodeSyncOptions } from '../../src/agent/node-sync.js';
import { ControlPlaneHealth } from '../../src/agent/control-plane.js';
import type { Store } from '../../src/store/store.js';
import { NETWORK_KEY } from '../../src/store/documents.js';
import { silentLogger } from '../../src/util/log.js';

// Between full passes the agent only probes its store with one small read: it must still say
// "unreachable" when reads fail, and ask for a full pass when the store answers again.

test('the store probe: one read of the network document; unreachable on failure; a full pass asked for when it answers again', async () => {
  const reads: string[] = [];
  let fail = false;
  const store = {
    get: async (collection: string, key: string) => {
      reads.push(`${collection}/${key}`);
      if (fail) throw new Error('ENOENT: no such file or directory');
      return undefined;
    },
  } as unknown as Store;
  let t = 1000;
  const health = new ControlPlaneHealth(() => t, silentLogger());
  const sync = new NodeSync({ store, health, log: silentLogger(), now: () => t } as unknown as NodeSyncOptions);

  assert.equal(await sync.probe(), false, 'reachable, and was: nothing to catch up');
  assert.equal(health.view().state, 'connected');
  assert.deepEqual(reads, [`network/${NETWORK_KEY}`], 'one document read, no listing');

  fail = true;
  t = 2000;
  assert.equal(await sync.probe(), false);
  assert.equal(health.view().state, 'unreachable');
  assert.match(health.view().error ?? '', /ENOENT/);
  assert.equal(await sync.probe(), false, 'still unreachable');

  fail = false;
  t = 3000;
  assert.equal(await sync.probe(), true, 'answers again: the caller runs a full pass');
  assert.equal(health.view().state, 'connected');
  assert.equal(await sync.probe(), false);
  assert.equal(reads.length, 5);
});
