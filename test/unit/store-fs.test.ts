import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, readdir, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { FsStore, ConflictError, CorruptDocumentError, update, type NodeDoc, type WatchEvent } from '../../src/store/index.js';
import { repoRoot } from '../helpers/paths.js';

const node = (name: string, n = 0): NodeDoc => ({
  name,
  system_id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  registered_at: '2026-01-01T00:00:00.000Z',
  trusted_ca: [],
});

async function tempStore(): Promise<{ dir: string; store: FsStore; done: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'oi-store-'));
  const store = await FsStore.open(dir, { rescanMs: 100 });
  return { dir, store, done: async () => { await store.close(); await rm(dir, { recursive: true, force: true }); } };
}

test('put/get/list/delete with revisions', async () => {
  const { store, done } = await tempStore();
  try {
    assert.equal(await store.get('nodes', 'a'), undefined);
    assert.equal(await store.put('nodes', 'a', node('a', 1)), 1);
    assert.equal(await store.put('nodes', 'a', node('a', 2)), 2);
    await store.put('nodes', 'b', node('b', 3));
    const a = await store.get('nodes', 'a');
    assert.equal(a?.revision, 2);
    assert.equal(a?.value.system_id, node('a', 2).system_id);
    assert.deepEqual((await store.list('nodes')).map((e) => [e.key, e.revision]), [['a', 2], ['b', 1]]);
    assert.equal(await store.delete('nodes', 'a'), true);
    assert.equal(await store.delete('nodes', 'a'), false);
    assert.equal(await store.get('nodes', 'a'), undefined);
    // Revisions never go back, even through a delete: the next write is 4, not 1.
    assert.equal(await store.put('nodes', 'a', node('a', 4), { expectedRevision: 0 }), 4);
  } finally {
    await done();
  }
});

test('keys with dots and slashes (subnet CIDRs) round-trip', async () => {
  const { store, done } = await tempStore();
  try {
    await store.put('subnets', '10.254.3.0/24', { cidr: '10.254.3.0/24', node: 'w0', allocated_at: '2026-01-01T00:00:00.000Z' });
    assert.deepEqual((await store.list('subnets')).map((e) => e.key), ['10.254.3.0/24']);
  } finally {
    await done();
  }
});

test('compare-and-swap: create-only, stale revision, and racing writers (exactly one wins)', async () => {
  const { store, done } = await tempStore();
  try {
    await store.put('nodes', 'a', node('a'), { expectedRevision: 0 });
    await assert.rejects(store.put('nodes', 'a', node('a'), { expectedRevision: 0 }), ConflictError);
    await assert.rejects(store.put('nodes', 'a', node('a'), { expectedRevision: 7 }), ConflictError);
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => store.put('nodes', 'a', node('a', i), { expectedRevision: 1 })));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    assert.ok(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof ConflictError));
    const creates = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => store.put('subnets', '10.0.0.0/24', { cidr: '10.0.0.0/24', node: `n${i}`, allocated_at: '2026-01-01T00:00:00.000Z' }, { expectedRevision: 0 })));
    assert.equal(creates.filter((r) => r.status === 'fulfilled').length, 1);
  } finally {
    await done();
  }
});

test('documents are checked on write and on read; a damaged file is reported by name, never dropped', async () => {
  const { dir, store, done } = await tempStore();
  try {
    await assert.rejects(store.put('nodes', 'x', { name: 'x' } as unknown as NodeDoc), /refusing to store an invalid document/);
    await store.put('nodes', 'good', node('good'));
    const bad = path.join(dir, 'nodes', 'bad.1.json');
    await writeFile(bad, '{"key":"bad","revision":1,"value":{"name":"bad","system_id":"0000'); // torn write
    await assert.rejects(store.get('nodes', 'bad'), (err: unknown) => err instanceof CorruptDocumentError && err.file === bad && /not valid JSON/.test(err.problem));
    await assert.rejects(store.list('nodes'), CorruptDocumentError);
    const wrong = path.join(dir, 'nodes', 'wrong.1.json');
    await writeFile(wrong, JSON.stringify({ key: 'wrong', revision: 1, value: { ...node('wrong'), system_id: 'not-a-uuid' } }));
    await assert.rejects(store.get('nodes', 'wrong'), /wrong\.1\.json: value\.system_id: expected a lowercase UUID/);
    const c = await store.check();
    assert.equal(c.problems.length, 2);
    assert.ok(c.problems.some((p) => p.includes(bad)) && c.problems.some((p) => p.includes(wrong)));
    // A watcher reports the damaged file once through onError and still delivers the good ones.
    const seen: string[] = [];
    const errors: Error[] = [];
    const stop = store.watch('nodes', (ev) => seen.push(ev.key), { onError: (e) => errors.push(e) });
    for (let i = 0; i < 250 && (errors.length < 2 || seen.length < 1); i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300)); // and nothing more arrives
    stop();
    assert.deepEqual(seen, ['good']);
    assert.equal(errors.length, 2);
  } finally {
    await done();
  }
});

test('temp files of a dead writer are ignored by readers and swept on open', async () => {
  const { dir, store, done } = await tempStore();
  try {
    await store.put('nodes', 'a', node('a'));
    const tmp = path.join(dir, 'nodes', '.tmp.999999.abcdef');
    await writeFile(tmp, '{"half');
    assert.equal((await store.list('nodes')).length, 1);
    assert.deepEqual((await store.check()).problems, []);
    await FsStore.open(dir);
    assert.deepEqual((await readdir(path.join(dir, 'nodes'))).sort(), ['a.1.json']);
  } finally {
    await done();
  }
});

test('watch: current contents first, then puts and deletes', async () => {
  const { store, done } = await tempStore();
  try {
    await store.put('nodes', 'a', node('a'));
    const events: WatchEvent<NodeDoc>[] = [];
    const stop = store.watch('nodes', (ev) => events.push(ev));
    const until = async (n: number): Promise<void> => {
      for (let i = 0; i < 100 && events.length < n; i++) await new Promise((r) => setTimeout(r, 20));
    };
    await until(1);
    await store.put('nodes', 'b', node('b'));
    await until(2);
    await store.delete('nodes', 'a');
    await until(3);
    stop();
    assert.deepEqual(events.map((e) => [e.type, e.key, e.revision]), [['put', 'a', 1], ['put', 'b', 1], ['delete', 'a', 2]]);
    assert.equal(events[1]!.value?.name, 'b');
  } finally {
    await done();
  }
});

test('compare-and-swap holds across processes: 4 writers × 25 appends, none lost', async () => {
  const { dir, store, done } = await tempStore();
  try {
    await store.put('nodes', 'counter', node('counter'));
    const script = `
      import { FsStore, update } from ${JSON.stringify(path.join(repoRoot, 'dist/src/store/index.js'))};
      const store = await FsStore.open(process.argv[1]);
      for (let i = 0; i < 25; i++)
        await update(store, 'nodes', 'counter', (cur) => ({ ...cur, trusted_ca: [...cur.trusted_ca, process.argv[2] + ':' + i] }), 10000);
      await store.close();`;
    const procs = ['p0', 'p1', 'p2', 'p3'].map(
      (tag) =>
        new Promise<number | null>((resolve) => {
          const p = spawn(process.execPath, ['--input-type=module', '-e', script, dir, tag], { stdio: ['ignore', 'inherit', 'inherit'] });
          p.on('exit', resolve);
        }),
    );
    assert.deepEqual(await Promise.all(procs), [0, 0, 0, 0]);
    const final = await store.get('nodes', 'counter');
    assert.equal(final!.value.trusted_ca.length, 100);
    assert.equal(new Set(final!.value.trusted_ca).size, 100);
    assert.equal(final!.revision, 101);
    const files = await readdir(path.join(dir, 'nodes'));
    assert.ok(files.includes('counter.101.json') && files.every((f) => /^counter\.[0-9]+\.json$/.test(f)), files.join(' '));
  } finally {
    await done();
  }
});

test('update() retries on conflict and can decline to write', async () => {
  const { store, done } = await tempStore();
  try {
    const r = await update(store, 'nodes', 'n', (cur) => cur ?? node('n'));
    assert.equal(r?.revision, 1);
    assert.equal(await update(store, 'nodes', 'n', () => undefined), undefined);
    assert.equal((await store.get('nodes', 'n'))?.revision, 1);
  } finally {
    await done();
  }
});

test('superseded revisions are removed once their grace period is over', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'oi-store-'));
  const store = await FsStore.open(dir, { revisionGraceMs: 60_000 });
  try {
    for (let i = 0; i < 5; i++) await store.put('nodes', 'a', node('a', i));
    assert.equal((await readdir(path.join(dir, 'nodes'))).length, 5, 'names kept during the grace period');
    // Age the files past the grace period instead of waiting for it.
    const old = new Date(Date.now() - 120_000);
    for (const f of await readdir(path.join(dir, 'nodes'))) await utimes(path.join(dir, 'nodes', f), old, old);
    await store.put('nodes', 'a', node('a', 9));
    assert.deepEqual(await readdir(path.join(dir, 'nodes')), ['a.6.json']);
    assert.equal((await store.get('nodes', 'a'))?.value.system_id, node('a', 9).system_id);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
