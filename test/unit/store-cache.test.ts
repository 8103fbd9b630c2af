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
