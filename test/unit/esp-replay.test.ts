// Anti-replay window (RFC 4303 §3.4.3): duplicates, stale packets, jumps, and the window edge,
// for the sizes we support.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplayWindow } from '../../src/esp/replay-window.js';

function receive(w: ReplayWindow, seq: number): boolean {
  return w.check(seq) && w.accept(seq);
}

test('default size is 1024; sizes outside 1..4096 are refused', () => {
  assert.equal(new ReplayWindow().size, 1024);
  assert.throws(() => new ReplayWindow(0), RangeError);
  assert.throws(() => new ReplayWindow(4097), RangeError);
  assert.throws(() => new ReplayWindow(1.5), RangeError);
});

test('sequence number 0 is never accepted', () => {
  const w = new ReplayWindow(32);
  assert.equal(w.check(0), false);
  assert.equal(w.accept(0), false);
});

for (const size of [32, 1024, 4096]) {
  test(`window ${size}: in order, duplicates, out of order inside the window`, () => {
    const w = new ReplayWindow(size);
    for (let s = 1; s <= 100; s++) assert.ok(receive(w, s));
    for (let s = 1; s <= 100; s++) assert.equal(w.check(s), false, `dup ${s}`);
    assert.equal(w.highest, 100);
    // a gap, filled later in any order
    assert.ok(receive(w, 110));
    for (const s of [105, 101, 109, 102]) assert.ok(receive(w, s), `late ${s}`);
    for (const s of [105, 101, 109, 102, 110]) assert.equal(w.check(s), false, `dup ${s}`);
    assert.ok(w.check(103) && w.check(108));
  });

  test(`window ${size}: the edge — top-size+1 is inside, top-size is too old`, () => {
    const w = new ReplayWindow(size);
    const top = 3 * size + 17;
    assert.ok(receive(w, top));
    assert.equal(w.check(top - size + 1), true);
    assert.equal(w.check(top - size), false);
    assert.equal(w.check(1), false);
    assert.ok(receive(w, top - size + 1));
    assert.equal(w.check(top - size + 1), false);
  });

  test(`window ${size}: a jump ahead forgets old bits and keeps new ones exact`, () => {
    const w = new ReplayWindow(size);
    for (let s = 1; s <= size; s++) assert.ok(receive(w, s));
    // jump by less than the window: everything between is still acceptable once
    const jump = size + Math.floor(size / 2);
    assert.ok(receive(w, jump));
    for (let s = size + 1; s < jump; s++) assert.equal(w.check(s), true, `gap ${s}`);
    for (let s = jump - size + 1; s <= size; s++) assert.equal(w.check(s), false, `seen ${s}`);
    // jump far ahead (much more than the ring): the whole window is fresh
    const far = 1_000_000 + size;
    assert.ok(receive(w, far));
    for (let s = far - size + 1; s < far; s++) assert.equal(w.check(s), true, `fresh ${s}`);
    assert.equal(w.check(far), false);
    assert.equal(w.check(far - size), false);
    // near the top of the 32-bit space
    const top = 0xffff_fffe;
    assert.ok(receive(w, top));
    assert.equal(w.check(top), false);
    assert.equal(w.check(top - 1), true);
    assert.ok(receive(w, 0xffff_ffff));
    assert.equal(w.check(top - size + 1), false);
    assert.equal(w.check(top - size + 2), true);
  });

  test(`window ${size}: random order against a reference set`, () => {
    const w = new ReplayWindow(size);
    const seen = new Set<number>();
    let top = 0;
    let x = 12345;
    for (let i = 0; i < 20000; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      const base = Math.floor(i * 1.5) + 1;
      const seq = Math.max(1, base - (x % (size + 64)) + 32);
      const expected = seq > top || (top - seq < size && !seen.has(seq));
      assert.equal(w.check(seq), expected, `seq ${seq} top ${top}`);
      if (expected) {
        assert.ok(w.accept(seq));
        seen.add(seq);
        if (seq > top) top = seq;
      }
    }
  });
}

test('check() alone never moves the window (only accept() after the ICV does)', () => {
  const w = new ReplayWindow(64);
  assert.ok(receive(w, 10));
  assert.ok(w.check(1_000_000));
  assert.equal(w.highest, 10);
  assert.ok(w.check(11));
});
