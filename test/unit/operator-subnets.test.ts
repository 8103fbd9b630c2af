import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Operator } from '../../src/operator/index.js';
import { loadOrCreateIdentity } from '../../src/pki/node-identity.js';
import { registerNode, deregisterNode } from '../../src/pki/enroll.js';
import { silentLogger } from '../../src/util/log.js';
import { cliPath } from '../helpers/paths.js';
import { startOperator } from './operator-harness.js';

const subnetsOf = async (h: { store: import('../../src/store/index.js').FsStore }) =>
  Object.fromEntries((await h.store.list('subnets')).map((s) => [s.value.node, s.key]));

test('node subnets: lowest free /24 first, freed on removal, reused, stable across operator restarts', async () => {
  const h = await startOperator();
  try {
    for (const n of ['master0', 'master1', 'master2']) await registerNode(h.store, await loadOrCreateIdentity(h.stateDir, n), Date.now);
    await h.operator.reconcile();
    assert.deepEqual(await subnetsOf(h), { master0: '10.254.0.0/24', master1: '10.254.1.0/24', master2: '10.254.2.0/24' });

    await deregisterNode(h.store, 'master1');
    await h.operator.reconcile();
    assert.deepEqual(await subnetsOf(h), { master0: '10.254.0.0/24', master2: '10.254.2.0/24' });

    await registerNode(h.store, await loadOrCreateIdentity(h.stateDir, 'worker0'), Date.now);
    await h.operator.reconcile();
    assert.deepEqual(await subnetsOf(h), { master0: '10.254.0.0/24', master2: '10.254.2.0/24', worker0: '10.254.1.0/24' });

    // A second operator instance (a restart) sees the same allocations and changes nothing.
    await h.operator.stop();
    const again = new Operator({ store: h.store, stateDir: h.stateDir, log: silentLogger(), tickMs: 1_000_000 });
    await again.start();
    await again.reconcile();
    await again.stop();
    assert.deepEqual(await subnetsOf(h), { master0: '10.254.0.0/24', master2: '10.254.2.0/24', worker0: '10.254.1.0/24' });
    // The network config was kept from the first start (no --config needed on restart).
    assert.equal((await h.store.get('network', 'cluster'))?.value.ipsec.mode, 'Full');
  } finally {
    await h.done();
  }
});

test('a damaged store document: pki show exits 1 naming the file and what is wrong', async () => {
  const h = await startOperator();
  try {
    await registerNode(h.store, await loadOrCreateIdentity(h.stateDir, 'worker0'), Date.now);
    await h.operator.stop();
    const bad = path.join(h.stateDir, 'store', 'certificates', 'worker0.1.json');
    await writeFile(bad, '{"key":"worker0","revision":1,"value":{"node":"wor');
    const r = spawnSync(process.execPath, [cliPath, 'pki', 'show', '--state-dir', h.stateDir], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`corrupt store document ${bad.replace(/[.]/g, '\\.')}: not valid JSON`));
  } finally {
    await h.done();
  }
});
