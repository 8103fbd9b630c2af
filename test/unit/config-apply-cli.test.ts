import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cliPath } from '../helpers/paths.js';
import { SEED_CONFIG } from './operator-harness.js';
import { validateFiles } from '../../src/config/index.js';
import { FsStore, storeDir } from '../../src/store/index.js';
import { NETWORK_KEY } from '../../src/store/documents.js';
import { CLUSTER_STATE_FILE, CLUSTER_STATE_VERSION } from '../../src/cluster/state.js';

// `config apply` checks the pod MTU against the underlay it runs on: given with --underlay-mtu,
// or, on a local cluster's state directory, the MTU `up` gave its underlay switch. Without
// either it can only warn that the underlay is not known.

const apply = (stateDir: string, ...extra: string[]) =>
  spawnSync(process.execPath, [cliPath, 'config', 'apply', ...SEED_CONFIG, '--state-dir', stateDir, ...extra], { encoding: 'utf8' });

test('config apply: the pod MTU is checked against the local cluster\'s underlay, or --underlay-mtu', { timeout: 60_000 }, async () => {
  const stateDir = await mkdtemp(path.join(tmpdir(), 'oi-capply-'));
  try {
    const r = await validateFiles([...SEED_CONFIG], { underlayMtu: 1546 });
    const store = await FsStore.open(storeDir(stateDir));
    await store.put('network', NETWORK_KEY, { ...r.network!, installed_at: new Date().toISOString() });
    await store.close();

    const unknown = apply(stateDir);
    assert.equal(unknown.status, 0, unknown.stderr);
    assert.match(unknown.stdout, /^unchanged: IPsec Full$/m);
    assert.match(unknown.stderr, /the underlay MTU is not known/);

    const cluster = (mtu: number) => writeFile(path.join(stateDir, CLUSTER_STATE_FILE), JSON.stringify({
      version: CLUSTER_STATE_VERSION, prefix: 'oi', plan: { underlay: { mtu } }, nodes: [], daemons: [],
    }));
    await cluster(1546);
    const fits = apply(stateDir);
    assert.equal(fits.status, 0, fits.stderr);
    assert.equal(fits.stderr, '', 'nothing to warn of: the recorded underlay carries Geneve + ESP');

    await cluster(1500);
    const small = apply(stateDir);
    assert.equal(small.status, 2, small.stderr);
    assert.match(small.stderr, /mtu: 1400 \+ 146 bytes of Geneve and ESP overhead/);

    const given = apply(stateDir, '--underlay-mtu', '9000');
    assert.equal(given.status, 0, `--underlay-mtu wins over the recorded underlay: ${given.stderr}`);
    const bad = apply(stateDir, '--underlay-mtu', 'big');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--underlay-mtu: "big" is not an MTU/);
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
});
