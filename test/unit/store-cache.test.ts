import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FsStore, CorruptDocumentError, type NodeDoc } from '../../src/store/index.js';

/** Reads served from parsed revisions: copies, and a file damaged in place is read again. */

const node = (name: string): NodeDoc => ({
  name,
  system_id: '00000000-0000-4000-8000-000000000001',
  registered_at: '2026-01-01T00:00:00.000Z',
  trusted_ca: ['ca1'],
});

test('a cached document is handed out as a copy; damage in place after a read is still reported', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'oi-store-cache-'));
  const store = await FsStore.open(dir);
  try {
    await store.put('nodes', 'a', node('a'));
    const first = (await store.get('nodes', 'a'))!;
    first.value.trusted_ca.push('changed by a caller');
    assert.deepEqual((await store.get('nodes', 'a'))!.value.trusted_ca, ['ca1']);
    assert.deepEqual((await store.list('nodes'))[0]!.value.trusted_ca, ['ca1']);
    const file = path.join(dir, 'nodes', (await readdir(path.join(dir, 'nodes')))[0]!);
    await truncate(file, 15);
    await assert.rejects(store.get('nodes', 'a'), (e: unknown) => e instanceof CorruptDocumentError && e.file === file);
    await assert.rejects(store.list('nodes'), CorruptDocumentError);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('only the newest revision of a key is held in memory, though superseded files stay on disk', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'oi-store-cache-'));
  const store = await FsStore.open(dir, { revisionGraceMs: 3_600_000 });
  try {
    for (let i = 0; i < 5; i++) {
      await store.put('nodes', 'a', { ...node('a'), trusted_ca: [`ca${i}`] });
      await store.put('nodes', 'b', { ...node('b'), trusted_ca: [`ca${i}`] });
      assert.equal((await store.get('nodes', 'a'))!.value.trusted_ca[0], `ca${i}`);
      assert.equal((await store.list('nodes')).length, 2);
    }
    // Within the grace period every revision file is still there (their names stay taken)…
    assert.equal((await readdir(path.join(dir, 'nodes'))).length, 10);
    // …but a reader holds the head of each key only.
    assert.equal(store.cachedDocuments, 2);
    assert.deepEqual((await store.list('nodes')).map((e) => [e.key, e.revision, e.value.trusted_ca[0]]), [['a', 5, 'ca4'], ['b', 5, 'ca4']]);
    await store.delete('nodes', 'a');
    assert.deepEqual((await store.list('nodes')).map((e) => e.key), ['b']);
    assert.ok(store.cachedDocuments <= 2, `held ${store.cachedDocuments}`);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
