import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferArena } from '../../src/util/arena.js';

// The arena behind the data path's per-batch packet buffers: views that never overlap until
// reset(), space reused after it, and a slab that grows to what a batch needs.

test('buffers taken between resets never overlap; after reset the space is reused', () => {
  const a = new BufferArena(4096);
  const bufs = [a.take(1000), a.take(1), a.take(1500), a.take(999)];
  bufs.forEach((b, i) => b.fill(i + 1));
  bufs.forEach((b, i) => assert.ok(b.every((x) => x === i + 1), `buffer ${i} intact`));
  assert.deepEqual(bufs.map((b) => b.length), [1000, 1, 1500, 999]);
  a.reset();
  const again = a.take(1000);
  assert.equal(again.buffer, bufs[0]!.buffer, 'same slab after reset');
  assert.equal(again.byteOffset, bufs[0]!.byteOffset);
});

test('a batch larger than the slab gets a larger slab, kept for the next batches', () => {
  const a = new BufferArena(1024, 8192);
  const first = a.take(800);
  first.fill(1);
  const second = a.take(800); // does not fit: a new slab of 2048
  second.fill(2);
  assert.notEqual(second.buffer, first.buffer);
  assert.ok(first.every((x) => x === 1), 'the old slab lives on in its views');
  a.reset();
  const x = a.take(800);
  const y = a.take(800);
  assert.equal(x.buffer, y.buffer, 'after growing, a batch of that size fits one slab');
  // Beyond the cap a request gets a buffer of its own.
  assert.equal(a.take(10_000).length, 10_000);
});
