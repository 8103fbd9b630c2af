import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FsStore, storeDir } from '../../src/store/index.js';
import { CaKeeper, decideCsr } from '../../src/operator/index.js';
import { loadOrCreateIdentity } from '../../src/pki/node-identity.js';
import { registerNode, submitCsr } from '../../src/pki/enroll.js';
import { generateKeyPair } from '../../src/pki/keys.js';
import { createNodeCsr } from '../../src/pki/node-csr.js';
import { silentLogger } from '../../src/util/log.js';

// Two operators deciding the same CSR at the same moment (an old leader that has not yet seen
// its lease run out, and the new one): one certificate is stored, both agree on it, the request
// is approved once.

test('two operators decide one CSR at once: one certificate stored, the CSR approved once with its serial', async () => {
  const stateDir = await mkdtemp(path.join(tmpdir(), 'oi-race-'));
  const store = await FsStore.open(storeDir(stateDir));
  try {
    const log = silentLogger();
    const ca1 = new CaKeeper(store, stateDir, 'ecdsa', log);
    const { bundle } = await ca1.ensure(Date.now());
    const ca2 = new CaKeeper(store, stateDir, 'ecdsa', log); // the second operator, same CA key
    for (const n of ['n1', 'n2', 'n3']) {
      const id = await loadOrCreateIdentity(stateDir, n);
      await registerNode(store, id, Date.now);
      await submitCsr(store, n, await createNodeCsr(await generateKeyPair('ecdsa'), id.systemId), Date.now);
    }
    const registered = new Map((await store.list('nodes')).map((e) => [e.key, e.value]));
    for (const csr of await store.list('csrs')) {
      const [d1, d2] = await Promise.all([
        decideCsr(store, csr, registered, bundle, ca1, Date.now(), log),
        decideCsr(store, csr, registered, bundle, ca2, Date.now(), log),
      ]);
      const decided = [d1, d2].filter((d) => d !== undefined);
      assert.equal(decided.length, 1, `${csr.key}: one decision stored (the other lost the CAS): ${JSON.stringify([d1, d2])}`);
      const entry = (await store.get('certificates', csr.key))!;
      assert.equal(entry.revision, 1, `${csr.key}: the certificate was written once`);
      const stored = entry.value;
      const after = (await store.get('csrs', csr.key))!.value;
      assert.equal(after.status, 'approved');
      assert.equal(after.certificate_serial, stored.serial, `${csr.key}: approved with the stored certificate`);
      assert.equal(stored.request_id, csr.value.request_id);
    }
  } finally {
    await store.close();
    await rm(stateDir, { recursive: true, force: true });
  }
});
