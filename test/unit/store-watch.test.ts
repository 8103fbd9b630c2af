import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FsStore, type FsStoreOptions, type NodeDoc, type WatchEvent } from '../../src/store/index.js';
import { inotifyEvents, type DirEvents } from '../../src/store/dir-monitor.js';

/**
 * How watchers learn of changes: inotify events (a change is seen at once, not at the next
 * rescan), a rare safety rescan that recovers an event inotify lost, and polling when inotify
 * cannot be had.
 */

const node = (name: string, n = 0): NodeDoc => ({
  name,
  system_id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  registered_at: '2026-01-01T00:00:00.000Z',
  trusted_ca: [],
});

async function withStore(opts: FsStoreOptions, fn: (store: FsStore) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'oi-store-watch-'));
  const store = await FsStore.open(dir, opts);
  try {
    await fn(store);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Resolves with the ms it took until `cond` held; rejects after `limitMs`. */
async function within(limitMs: number, cond: () => boolean): Promise<number> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > limitMs) throw new Error(`not within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - t0;
}

const HOUR = 3_600_000;

test('a change is seen from its inotify event, long before any rescan', async () => {
  await withStore({ rescanMs: HOUR, pollMs: HOUR }, async (store) => {
    const events: WatchEvent<NodeDoc>[] = [];
    const stop = store.watch('nodes', (ev) => events.push(ev));
    assert.equal(store.watchMode('nodes'), 'events');
    // A second process's writes arrive the same way: it is only files.
    const writer = await FsStore.open(store.dir);
    try {
      await writer.put('nodes', 'a', node('a', 1));
      await within(2000, () => events.length === 1);
      await writer.put('nodes', 'a', node('a', 2));
      await within(2000, () => events.length === 2);
      await writer.delete('nodes', 'a');
      await within(2000, () => events.length === 3);
    } finally {
      await writer.close();
    }
    stop();
    assert.deepEqual(events.map((e) => [e.type, e.key, e.revision]), [['put', 'a', 1], ['put', 'a', 2], ['delete', 'a', 3]]);
    assert.equal(store.watchMode('nodes'), 'idle');
  });
});

test('an event inotify lost is recovered by the safety rescan', async () => {
  // Change events are swallowed (as on a queue overflow); only the safety rescan is left.
  let swallowed = 0;
  const lossy: DirEvents = (dir, _onChange, onError) => inotifyEvents(dir, () => swallowed++, onError);
  await withStore({ rescanMs: 1000, pollMs: HOUR, dirEvents: lossy }, async (store) => {
    const keys: string[] = [];
    const stop = store.watch('nodes', (ev) => keys.push(ev.key));
    assert.equal(store.watchMode('nodes'), 'events');
    await store.put('nodes', 'lost', node('lost'));
    await within(2000, () => swallowed > 0);
    assert.deepEqual(keys, [], 'the lost event delivered nothing by itself');
    // Jitter keeps each wait within 0.75–1.25 × 1000 ms.
    await within(4000, () => keys.length === 1);
    stop();
    assert.deepEqual(keys, ['lost']);
  });
});

test('without inotify, watchers poll', async () => {
  const none: DirEvents = () => {
    throw Object.assign(new Error('inotify_add_watch: no space left on device'), { code: 'ENOSPC' });
  };
  await withStore({ rescanMs: HOUR, pollMs: 50, dirEvents: none }, async (store) => {
    const keys: string[] = [];
    const stop = store.watch('subnets', (ev) => keys.push(ev.key));
    assert.equal(store.watchMode('subnets'), 'poll');
    await store.put('subnets', '10.0.0.0/24', { cidr: '10.0.0.0/24', node: 'w0', allocated_at: '2026-01-01T00:00:00.000Z' });
    await within(2000, () => keys.length === 1);
    stop();
  });
});

test('an event source that fails later falls back to polling', async () => {
  let fail: ((err: Error) => void) | undefined;
  const flaky: DirEvents = (dir, onChange, onError) => {
    fail = onError;
    return inotifyEvents(dir, onChange, onError);
  };
  await withStore({ rescanMs: HOUR, pollMs: 50, dirEvents: flaky }, async (store) => {
    const keys: string[] = [];
    const stop = store.watch('nodes', (ev) => keys.push(ev.key));
    assert.equal(store.watchMode('nodes'), 'events');
    fail!(new Error('watch failed'));
    assert.equal(store.watchMode('nodes'), 'poll');
    await store.put('nodes', 'b', node('b'));
    await within(2000, () => keys.length === 1);
    stop();
  });
});

test('watchers of one collection share its change source; each gets every change', async () => {
  let sources = 0;
  const counting: DirEvents = (dir, onChange, onError) => {
    sources++;
    return inotifyEvents(dir, onChange, onError);
  };
  await withStore({ rescanMs: HOUR, pollMs: HOUR, dirEvents: counting }, async (store) => {
    const a: string[] = [];
    const b: string[] = [];
    const stopA = store.watch('nodes', (ev) => a.push(`${ev.type} ${ev.key}`));
    const stopB = store.watch('nodes', (ev) => b.push(`${ev.type} ${ev.key}`));
    assert.equal(sources, 1);
    await store.put('nodes', 'x', node('x'));
    await within(2000, () => a.length === 1 && b.length === 1);
    stopA();
    await store.delete('nodes', 'x');
    await within(2000, () => b.length === 2);
    stopB();
    assert.deepEqual(a, ['put x']);
    assert.deepEqual(b, ['put x', 'delete x']);
    assert.equal(store.watchMode('nodes'), 'idle');
  });
});
