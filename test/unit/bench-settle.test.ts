// The scale bench's "at rest": the agents' CPU sampled in windows until it stops falling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SETTLE_RULE, settled, waitUntilAtRest, type SettleRule } from '../../bench/lib/settle.js';

const rule: SettleRule = { windowS: 10, spanWindows: 1, maxS: 60, relative: 0.15, absolutePct: 1 };

test('settled: two windows that agree within 15 % or 1 % of a core; a rate still falling is not', () => {
  assert.equal(settled([], rule), false);
  assert.equal(settled([40], rule), false);
  assert.equal(settled([110, 60], rule), false);
  assert.equal(settled([110, 60, 40], rule), false);
  assert.equal(settled([110, 60, 40, 36], rule), true);
  // A burst after a quiet window is not rest either.
  assert.equal(settled([20, 30], rule), false);
  // Small rates: within 1 % of a core though far apart relatively.
  assert.equal(settled([2.0, 2.9], rule), true);
  assert.equal(settled([2.0, 3.1], rule), false);
});

test('waitUntilAtRest samples windows until the rate settles, and says when', async () => {
  // CPU seconds used per 10 s window: 11, 6, 4, 3.8, … (110 %, 60 %, 40 %, 38 % of a core).
  const used = [11, 6, 4, 3.8, 3.8, 3.8, 3.8, 3.8];
  let cpu = 100;
  let i = 0;
  const slept: number[] = [];
  const r = await waitUntilAtRest(() => cpu, rule, async (ms) => {
    slept.push(ms);
    cpu += used[i++]!;
  });
  assert.deepEqual(r, { waitedS: 40, settled: true, ratesPct: [110, 60, 40, 38] });
  assert.deepEqual(slept, [10_000, 10_000, 10_000, 10_000]);
});

test('waitUntilAtRest gives up after maxS and says the rate did not settle', async () => {
  let cpu = 0;
  let rate = 10;
  const r = await waitUntilAtRest(() => cpu, rule, async () => {
    cpu += rate;
    rate /= 2; // still halving every window
  });
  assert.equal(r.settled, false);
  assert.equal(r.waitedS, 60);
  assert.equal(r.ratesPct.length, 6);
});

test('the default rule judges 30 s against the 30 s before: a slow fall of a few percent a window is not rest', () => {
  // What the first form (single windows within 15 %) called settled after 20 s at 100 nodes.
  const falling = [40, 36, 33, 30, 27.5, 25, 23];
  assert.equal(settled(falling.slice(0, 2), { ...SETTLE_RULE, spanWindows: 1, relative: 0.15 }), true);
  assert.equal(settled(falling), false);
  assert.equal(settled([40, 36, 33, 30, 29, 31, 30, 29.5, 30.5]), true);
  assert.equal(settled([30, 29, 31]), false, 'two spans are needed');
});
