import { test } from 'node:test';
import assert from 'node:assert/strict';
import { byCodeUnit } from '../../src/util/text-order.js';

test('byCodeUnit: the order of <, without ICU collation (upper case before lower, "-" and "." before digits)', () => {
  const names = ['worker10', 'b', 'Worker2', 'a.1', 'a-1', 'worker2', 'a', 'a1'];
  assert.deepEqual([...names].sort(byCodeUnit), ['Worker2', 'a', 'a-1', 'a.1', 'a1', 'b', 'worker10', 'worker2']);
  assert.equal(byCodeUnit('x', 'x'), 0);
});
