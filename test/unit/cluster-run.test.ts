// The cluster builder's command runner: failures and timeouts as the callers rely on them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandFailed, run } from '../../src/cluster/run.js';

test('run: a timeout computed from fractional seconds is accepted (23 pings 0.2 s apart)', async () => {
  const r = await run(['sh', '-c', 'echo ok'], { timeoutMs: (23 * 0.2 + 2 + 5) * 1000 });
  assert.equal(r.stdout, 'ok\n');
});

test('run: a failing command rejects with its command line and stderr, or resolves when not checked', async () => {
  await assert.rejects(run(['sh', '-c', 'echo bad >&2; exit 3']), (err: unknown) => err instanceof CommandFailed && err.code === 3 && /sh -c .*: bad$/.test(err.message));
  const r = await run(['sh', '-c', 'echo half; exit 1'], { check: false });
  assert.equal(r.stdout, 'half\n');
});

test('run: a command that outlives its timeout is killed', async () => {
  const started = Date.now();
  await assert.rejects(run(['sleep', '10'], { timeoutMs: 200.5 }), CommandFailed);
  assert.ok(Date.now() - started < 5000);
});
