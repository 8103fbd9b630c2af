import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FsStore, CorruptDocumentError, NETWORK_KEY, type NetworkDoc } from '../../src/store/index.js';

// A truncated document (a disk that lied about fsync, an admin's editor): reads and ordinary
// writes name the file and refuse; the owner's repair write goes on top and keeps the damaged
// file as .corrupt, so nothing is lost silently.

const net: NetworkDoc = {
  clusterNetwork: [{ cidr: '10.254.0.0/16', hostPrefix: 24 }], serviceNetwork: ['172.30.0.0/16'], machineNetwork: [],
  mtu: 1400, genevePort: 6081, ipsec: { mode: 'Full', encapsulation: 'Always' }, sources: ['install-config.yaml'], installed_at: '2026-01-01T00:00:00.000Z',
};

test('a truncated head: reads and plain writes fail naming the file; replaceCorrupt repairs and keeps the damaged file', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'oif-store-'));
  const store = await FsStore.open(dir);
  try {
    await store.put('network', NETWORK_KEY, net).catch((e: Error) => { throw new Error(`fixture does not fit the schema: ${e.message}`); });
    const rev2 = await store.put('network', NETWORK_KEY, { ...net, mtu: 1300 });
    const file = path.join(dir, 'network', (await readdir(path.join(dir, 'network'))).find((n) => n.endsWith(`.${rev2}.json`))!);
    await truncate(file, 20);
    await assert.rejects(store.get('network', NETWORK_KEY), (e: Error) => e instanceof CorruptDocumentError && e.message.includes(file) && /not valid JSON/.test(e.message));
    await assert.rejects(store.put('network', NETWORK_KEY, net), CorruptDocumentError);
    const rev3 = await store.put('network', NETWORK_KEY, { ...net, mtu: 1200 }, { replaceCorrupt: true });
    assert.equal(rev3, rev2 + 1, 'revisions keep growing over the damaged one');
    assert.equal((await store.get('network', NETWORK_KEY))!.value.mtu, 1200);
    const kept = await readFile(`${file}.corrupt`, 'utf8');
    assert.equal(kept.length, 20, 'the damaged file is kept');
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
