import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAgentRequest } from '../../src/agent/control.js';
import { ShiftableClock, DAY_MS } from '../../src/pki/time.js';

test('clock/offset requests: the offset is a string, checked by the agent', () => {
  assert.deepEqual(parseAgentRequest('{"cmd":"clock/offset","offset":"4.5y"}'), { cmd: 'clock/offset', offset: '4.5y' });
  assert.match(String(parseAgentRequest('{"cmd":"clock/offset"}')), /needs an "offset" string/);
  assert.match(String(parseAgentRequest('{"cmd":"clock/offset","offset":3}')), /needs an "offset" string/);
  assert.match(String(parseAgentRequest('{"cmd":"nope"}')), /clock\/offset/);
});

test('a shiftable clock moves by its offset, and only it', () => {
  const c = new ShiftableClock(0);
  const t0 = c.now();
  assert.ok(Math.abs(t0 - Date.now()) < 1000);
  c.setOffset(4.5 * 365.25 * DAY_MS);
  assert.equal(c.offset, 4.5 * 365.25 * DAY_MS);
  const d = c.now() - Date.now();
  assert.ok(Math.abs(d - 4.5 * 365.25 * DAY_MS) < 1000, String(d));
});
