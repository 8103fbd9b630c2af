import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ConflictError, update, type NodeDoc, type Store, type WatchEvent } from '../../src/store/index.js';
import type { StoreSpec } from '../../src/store/open-store.js';
import { repoRoot } from '../helpers/paths.js';

/**
 * The Store contract, one suite for every implementation: what the operator and the agents may
 * rely on whichever store they run on. A backend gives a fresh, empty store per test (and the
 * StoreSpec of that store, so other processes can open it too).
 */

export interface Backend {
  name: string;
  /** A fresh, empty store, and the spec another process opens it with. */
  fresh(): Promise<{ store: Store; spec: StoreSpec; done: () => Promise<void> }>;
}

export const nodeDoc = (name: string, n = 0): NodeDoc => ({
  name,
  system_id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  registered_at: '2026-01-01T00:00:00.000Z',
  trusted_ca: [],
});

export async function until(cond: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Runs a module script in a child node process with the spec as argv[1]; resolves with its exit code and how long it took. */
export function runChild(script: string, args: string[], timeoutMs = 30_000): Promise<{ code: number | null; ms: number; stderr: string; msAfterLastOutput: number }> {
  const start = Date.now();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', script, ...args], { stdio: ['ignore', 'inherit', 'pipe'] });
    let stderr = '';
    let lastOutput = start;
    p.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      lastOutput = Date.now();
    });
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, ms: Date.now() - start, stderr, msAfterLastOutput: Date.now() - lastOutput });
    });
  });
}

const openStoreModule = JSON.stringify(path.join(repoRoot, 'dist/src/store/open-store.js'));
const storeModule = JSON.stringify(path.join(repoRoot, 'dist/src/store/index.js'));

export function storeContract(b: Backend): void {
  const t = (name: string, fn: (store: Store, spec: StoreSpec) => Promise<void>): void => {
    test(`${b.name}: ${name}`, async () => {
      const { store, spec, done } = await b.fresh();
      try {
        await fn(store, spec);
      } finally {
        await done();
      }
    });
  };

  t('version: the same while nothing changed; moves with every put and delete of the collection', async (store) => {
    const seen = new Set<string>();
    const next = async (what: string): Promise<string> => {
      const v = await store.version('nodes');
      assert.equal(await store.version('nodes'), v, `read again after ${what}: the same`);
      assert.ok(!seen.has(v), `${what} moved it`);
      seen.add(v);
      return v;
    };
    await next('nothing');
    await store.put('nodes', 'a', nodeDoc('a', 1));
    await next('a put');
    await store.put('nodes', 'b', nodeDoc('b', 2));
    await next('another key');
    await store.put('nodes', 'a', nodeDoc('a', 3));
    const v = await next('a new revision of a key');
    await store.put('dataplane', 'w0', { node: 'w0', wanted: 'Full', phase: 'Full', peers: {}, updated_at: '2026-01-01T00:00:00.000Z' });
    assert.equal(await store.version('nodes'), v, 'another collection does not move it');
    await store.delete('nodes', 'b');
    await next('a delete');
  });

  t('put / get / list / delete; revisions only grow, through a delete too', async (store) => {
    assert.equal(await store.get('nodes', 'a'), undefined);
    const r1 = await store.put('nodes', 'a', nodeDoc('a', 1));
    assert.ok(r1 >= 1);
    const r2 = await store.put('nodes', 'a', nodeDoc('a', 2));
    assert.ok(r2 > r1);
    const rb = await store.put('nodes', 'b', nodeDoc('b', 3));
    const a = await store.get('nodes', 'a');
    assert.equal(a?.revision, r2);
    assert.equal(a?.value.system_id, nodeDoc('a', 2).system_id);
    assert.deepEqual((await store.list('nodes')).map((e) => [e.key, e.revision]), [['a', r2], ['b', rb]]);
    assert.deepEqual(await store.list('csrs'), []);
    assert.equal(await store.delete('nodes', 'a'), true);
    assert.equal(await store.delete('nodes', 'a'), false);
    assert.equal(await store.get('nodes', 'a'), undefined);
    assert.deepEqual((await store.list('nodes')).map((e) => e.key), ['b']);
    const r3 = await store.put('nodes', 'a', nodeDoc('a', 4), { expectedRevision: 0 });
    assert.ok(r3 > r2, `a key written again after its delete has a higher revision (${r3} > ${r2})`);
  });

  t('keys with dots and slashes (subnet CIDRs) round-trip, and lists are sorted by key', async (store) => {
    for (const cidr of ['10.254.3.0/24', '10.254.10.0/24', '10.254.1.0/24'])
      await store.put('subnets', cidr, { cidr, node: 'w0', allocated_at: '2026-01-01T00:00:00.000Z' });
    assert.deepEqual((await store.list('subnets')).map((e) => e.key), ['10.254.1.0/24', '10.254.10.0/24', '10.254.3.0/24']);
    assert.equal((await store.get('subnets', '10.254.3.0/24'))?.value.cidr, '10.254.3.0/24');
  });

  t('compare-and-swap: create-only, stale revision, and ten racing writers of which exactly one wins', async (store) => {
    const r1 = await store.put('nodes', 'a', nodeDoc('a'), { expectedRevision: 0 });
    await assert.rejects(store.put('nodes', 'a', nodeDoc('a'), { expectedRevision: 0 }), (e: unknown) => e instanceof ConflictError && e.actual === r1 && e.expected === 0);
    await assert.rejects(store.put('nodes', 'a', nodeDoc('a'), { expectedRevision: r1 + 1000 }), ConflictError);
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => store.put('nodes', 'a', nodeDoc('a', i), { expectedRevision: r1 })));
    const won = results.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<number>[];
    assert.equal(won.length, 1);
    for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof ConflictError, String(r.reason));
    assert.equal((await store.get('nodes', 'a'))?.revision, won[0]!.value);
  });

  t('delete: absent keys, create-only and stale revisions', async (store) => {
    assert.equal(await store.delete('nodes', 'never'), false);
    assert.equal(await store.delete('nodes', 'never', { expectedRevision: 0 }), false);
    const r = await store.put('nodes', 'a', nodeDoc('a'));
    await assert.rejects(store.delete('nodes', 'a', { expectedRevision: 0 }), ConflictError);
    await assert.rejects(store.delete('nodes', 'a', { expectedRevision: r + 1000 }), ConflictError);
    assert.equal((await store.get('nodes', 'a'))?.revision, r);
    assert.equal(await store.delete('nodes', 'a', { expectedRevision: r }), true);
    assert.equal(await store.get('nodes', 'a'), undefined);
    await assert.rejects(store.delete('nodes', 'a', { expectedRevision: r }), ConflictError);
  });

  t('an invalid document is refused on write and nothing is stored', async (store) => {
    await assert.rejects(store.put('nodes', 'a', { name: 'a', system_id: 'not-a-uuid' } as unknown as NodeDoc), TypeError);
    assert.equal(await store.get('nodes', 'a'), undefined);
  });

  t('update() retries on conflict and can decline to write', async (store) => {
    const r = await update(store, 'nodes', 'n', (cur) => cur ?? nodeDoc('n'));
    assert.ok(r && r.revision >= 1);
    assert.equal(await update(store, 'nodes', 'n', () => undefined), undefined);
    assert.equal((await store.get('nodes', 'n'))?.revision, r.revision);
    const adds = await Promise.all(Array.from({ length: 8 }, (_, i) => update(store, 'nodes', 'n', (cur) => ({ ...cur!, trusted_ca: [...cur!.trusted_ca, `x${i}`] }))));
    assert.equal(adds.length, 8);
    assert.equal((await store.get('nodes', 'n'))?.value.trusted_ca.length, 8);
  });

  t('watch: current contents first, then puts and deletes with their revisions; nothing after stop', async (store) => {
    const ra = await store.put('nodes', 'a', nodeDoc('a'));
    const events: WatchEvent<NodeDoc>[] = [];
    const errors: Error[] = [];
    const stop = store.watch('nodes', (ev) => events.push(ev), { onError: (e) => errors.push(e) });
    await until(() => events.length >= 1, 10_000, 'the initial contents');
    const rb = await store.put('nodes', 'b', nodeDoc('b'));
    await until(() => events.length >= 2, 10_000, 'the put');
    const ra2 = await store.put('nodes', 'a', nodeDoc('a', 9));
    await until(() => events.length >= 3, 10_000, 'the second put');
    await store.delete('nodes', 'b');
    await until(() => events.length >= 4, 10_000, 'the delete');
    const rbDeleted = events[3]!.revision;
    assert.deepEqual(events.map((e) => [e.type, e.key]), [['put', 'a'], ['put', 'b'], ['put', 'a'], ['delete', 'b']]);
    assert.deepEqual(events.slice(0, 3).map((e) => e.revision), [ra, rb, ra2]);
    assert.ok(rbDeleted > rb);
    assert.equal(events[2]!.value?.system_id, nodeDoc('a', 9).system_id);
    assert.equal(events[3]!.value, undefined);
    stop();
    await store.put('nodes', 'c', nodeDoc('c'));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(events.length, 4, 'no event after stop');
    assert.deepEqual(errors, []);
  });

  t('watchers of one collection each get every change; other collections are not mixed in', async (store) => {
    const e1: string[] = [];
    const e2: string[] = [];
    const s1 = store.watch('csrs', (ev) => e1.push(`${ev.type} ${ev.key}`));
    const s2 = store.watch('csrs', (ev) => e2.push(`${ev.type} ${ev.key}`));
    await new Promise((r) => setTimeout(r, 200));
    await store.put('nodes', 'n', nodeDoc('n'));
    await store.put('csrs', 'n', { node: 'n', request_id: '00000000-0000-4000-8000-000000000001', pem: 'x', submitted_at: '2026-01-01T00:00:00.000Z', status: 'pending' });
    await until(() => e1.length >= 1 && e2.length >= 1, 10_000, 'both watchers');
    await new Promise((r) => setTimeout(r, 200));
    s1();
    s2();
    assert.deepEqual(e1, ['put n']);
    assert.deepEqual(e2, ['put n']);
  });

  t('many keys: 1200 documents listed and delivered as a watch\'s initial contents', async (store) => {
    const names = Array.from({ length: 1200 }, (_, i) => `n${String(i).padStart(4, '0')}`);
    for (let i = 0; i < names.length; i += 100) await Promise.all(names.slice(i, i + 100).map((n, j) => store.put('nodes', n, nodeDoc(n, i + j))));
    const listed = await store.list('nodes');
    assert.deepEqual(listed.map((e) => e.key), names);
    const seen = new Set<string>();
    const stop = store.watch('nodes', (ev) => seen.add(ev.key));
    try {
      await until(() => seen.size === names.length, 30_000, 'all 1200 keys in the watch');
    } finally {
      stop();
    }
  });

  t('compare-and-swap across processes: 4 writers × 15 appends, none lost', async (store, spec) => {
    await store.put('nodes', 'counter', nodeDoc('counter'));
    const script = `
      import { openStore } from ${openStoreModule};
      import { update } from ${storeModule};
      const store = await openStore(JSON.parse(process.argv[1]));
      for (let i = 0; i < 15; i++)
        await update(store, 'nodes', 'counter', (cur) => ({ ...cur, trusted_ca: [...cur.trusted_ca, process.argv[2] + ':' + i] }), 10000);
      await store.close();`;
    const runs = await Promise.all(['p0', 'p1', 'p2', 'p3'].map((tag) => runChild(script, [JSON.stringify(spec), tag])));
    assert.deepEqual(runs.map((r) => r.code), [0, 0, 0, 0], runs.map((r) => r.stderr).join('\n'));
    const final = await store.get('nodes', 'counter');
    assert.equal(final!.value.trusted_ca.length, 60);
    assert.equal(new Set(final!.value.trusted_ca).size, 60);
  });

  t('close() leaves nothing open: a process that watched, wrote and closed exits by itself', async (_store, spec) => {
    const script = `
      import { openStore } from ${openStoreModule};
      const store = await openStore(JSON.parse(process.argv[1]));
      let seen = 0;
      for (const c of ['nodes', 'csrs', 'ca']) store.watch(c, () => seen++);
      await store.put('nodes', 'x', { name: 'x', system_id: '00000000-0000-4000-8000-000000000000', registered_at: '2026-01-01T00:00:00.000Z', trusted_ca: [] });
      while (seen === 0) await new Promise((r) => setTimeout(r, 10));
      const stop = store.watch('subnets', () => {});
      stop();
      await store.close();
      process.stderr.write('closed\\n');`;
    const r = await runChild(script, [JSON.stringify(spec)], 20_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /closed/);
    assert.ok(r.msAfterLastOutput < 3000, `the process lived ${r.msAfterLastOutput} ms after close()`);
  });
}
