import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ItemBackoff, WorkQueue, type QueueClock, type SyncResult } from '../../src/util/work-queue.js';

// The per-key queue on a manual clock: keys coalesce, one sync at a time, failures back off
// exponentially per key up to a cap, success resets, and nothing jumps a back-off but `forget`.

class ManualClock implements QueueClock {
  t = 0;
  private timers: { at: number; fn: () => void; live: boolean }[] = [];
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): () => void {
    const timer = { at: this.t + ms, fn, live: true };
    this.timers.push(timer);
    return () => {
      timer.live = false;
    };
  }
  /** Moves time to `to`, firing due timers in order. */
  advance(to: number): void {
    for (;;) {
      const due = this.timers.filter((x) => x.live && x.at <= to).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.t = due.at;
      due.live = false;
      due.fn();
    }
    this.t = to;
  }
  get pending(): number {
    return this.timers.filter((x) => x.live).length;
  }
}

function harness(result: (key: string, n: number) => SyncResult | Error = () => ({ outcome: 'ok' })) {
  const clock = new ManualClock();
  const synced: [string, number][] = [];
  const errors: [string, string, number][] = [];
  const counts = new Map<string, number>();
  const q = new WorkQueue<string>({
    clock,
    backoff: { baseMs: 100, capMs: 1000 },
    sync: (key) => {
      const n = (counts.get(key) ?? 0) + 1;
      counts.set(key, n);
      synced.push([key, clock.now()]);
      const r = result(key, n);
      if (r instanceof Error) throw r;
      return r;
    },
    onError: (key, err, ms) => errors.push([key, err.message, ms]),
  });
  return { clock, q, synced, errors };
}

test('back-off: doubling per failure from base to cap, per key', () => {
  const b = new ItemBackoff<string>({ baseMs: 100, capMs: 1000 });
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => b.next('a')), [100, 200, 400, 800, 1000, 1000]);
  assert.equal(b.next('b'), 100, 'another key has its own count');
  assert.equal(b.failuresOf('a'), 6);
  b.forget('a');
  assert.equal(b.next('a'), 100, 'forget resets');
});

test('many adds of one key before it runs: one sync; keys run in the order they were added', async () => {
  const { q, synced } = harness();
  for (let i = 0; i < 5; i++) {
    q.add('b');
    q.add('a');
  }
  await q.idle();
  assert.deepEqual(synced.map(([k]) => k), ['b', 'a']);
});

test('an add during the key\'s own sync: exactly one more sync after it', async () => {
  let q!: WorkQueue<string>;
  const h = harness((key, n) => {
    if (n === 1) {
      q.add(key);
      q.add(key);
    }
    return { outcome: 'ok' };
  });
  q = h.q;
  q.add('a');
  await q.idle();
  assert.deepEqual(h.synced, [['a', 0], ['a', 0]]);
});

test('failures back off exponentially; adds during a back-off do not bring the key forward; success resets', async () => {
  const outcomes: SyncResult['outcome'][] = ['failed', 'failed', 'failed', 'ok'];
  const { q, clock, synced } = harness((_k, n) => ({ outcome: outcomes[n - 1] ?? 'ok' }));
  q.add('a');
  await q.idle();
  assert.equal(q.failures('a'), 1);
  assert.equal(q.dueOf('a'), 100);
  q.add('a'); // e.g. a periodic resync: still held back
  await q.idle();
  assert.equal(synced.length, 1);
  clock.advance(100);
  await q.idle();
  assert.equal(q.dueOf('a'), 300, 'second failure: 200 more');
  clock.advance(300);
  await q.idle();
  assert.equal(q.dueOf('a'), 700, 'third: 400 more');
  clock.advance(700);
  await q.idle();
  assert.deepEqual(synced.map(([, t]) => t), [0, 100, 300, 700]);
  assert.equal(q.failures('a'), 0, 'success reset the count');
  assert.equal(q.dueOf('a'), undefined);
  // After the reset, a failure starts from the base again.
  outcomes.push('failed');
  q.add('a');
  await q.idle();
  assert.equal(q.dueOf('a'), 800);
});

test('the back-off stops at the cap', async () => {
  const { q, clock } = harness(() => ({ outcome: 'failed' }));
  q.add('a');
  await q.idle();
  const delays: number[] = [];
  for (let i = 0; i < 7; i++) {
    const due = q.dueOf('a') as number;
    delays.push(due - clock.now());
    clock.advance(due);
    await q.idle();
  }
  assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000, 1000]);
});

test('a thrown error is reported with its retry delay and backs off like a failure', async () => {
  const { q, clock, errors, synced } = harness((_k, n) => (n < 3 ? new Error(`boom ${n}`) : { outcome: 'ok' }));
  q.add('a');
  await q.idle();
  clock.advance(100);
  await q.idle();
  clock.advance(300);
  await q.idle();
  assert.deepEqual(errors, [['a', 'boom 1', 100], ['a', 'boom 2', 200]]);
  assert.equal(synced.length, 3);
  assert.equal(q.failures('a'), 0);
});

test('pending keeps the back-off as it is; recheckInMs queues a later look; the earlier of two waits wins', async () => {
  const { q, clock, synced } = harness((_k, n) => (n === 1 ? { outcome: 'failed' } : { outcome: 'pending', recheckInMs: 500 }));
  q.add('a');
  await q.idle();
  clock.advance(100);
  await q.idle();
  assert.equal(q.failures('a'), 1, 'pending neither reset nor grew it');
  assert.equal(q.dueOf('a'), 600);
  q.addAfter('a', 50); // sooner than the recheck, and the back-off (until 100) is over
  assert.equal(q.dueOf('a'), 150);
  q.addAfter('a', 900); // later than what is queued: no change
  assert.equal(q.dueOf('a'), 150);
  clock.advance(150);
  await q.idle();
  assert.deepEqual(synced.map(([, t]) => t), [0, 100, 150]);
});

test('forget ends a back-off: the next add runs at once', async () => {
  const { q, synced } = harness((_k, n) => ({ outcome: n === 1 ? 'failed' : 'ok' }));
  q.add('a');
  await q.idle();
  assert.equal(q.dueOf('a'), 100);
  q.forget('a');
  q.add('a');
  assert.equal(q.dueOf('a'), 'ready');
  await q.idle();
  assert.deepEqual(synced, [['a', 0], ['a', 0]]);
});

test('keys are synced one at a time, even when syncs are async', async () => {
  const clock = new ManualClock();
  let inFlight = 0;
  let most = 0;
  const q = new WorkQueue<number>({
    clock,
    sync: async () => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
    },
    onError: () => assert.fail('no errors'),
  });
  for (let i = 0; i < 10; i++) q.add(i);
  await q.idle();
  assert.equal(most, 1);
});

test('stop: waiting keys are dropped, their timers cancelled, adds ignored', async () => {
  const { q, clock, synced } = harness(() => ({ outcome: 'failed' }));
  q.add('a');
  await q.idle();
  assert.equal(clock.pending, 1);
  await q.stop();
  assert.equal(clock.pending, 0);
  q.add('b');
  clock.advance(10_000);
  await q.idle();
  assert.deepEqual(synced.map(([k]) => k), ['a']);
});
