import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { pidAlive } from '../../src/util/pid.js';

const stateOf = (pid: number): string => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.charAt(stat.lastIndexOf(')') + 2);
};

test('pidAlive: this process and a running child are alive; an ended, reaped child is not', async () => {
  assert.equal(pidAlive(process.pid), true);
  const child = spawn('sleep', ['5'], { stdio: 'ignore' });
  assert.equal(pidAlive(child.pid!), true);
  child.kill('SIGKILL');
  await once(child, 'exit');
  assert.equal(pidAlive(child.pid!), false);
});

test('pidAlive: a zombie (exited, not reaped by its parent) is not alive, though signal 0 still reaches its pid', async (t) => {
  // The shell starts a short sleep in the background, prints its pid and becomes a long sleep, which
  // never waits for children: the short one stays a zombie until the long one ends.
  const parent = spawn('sh', ['-c', 'sleep 0.05 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.after(() => { parent.kill('SIGKILL'); });
  const [line] = (await once(parent.stdout!, 'data')) as [Buffer];
  const zombie = Number(line.toString().trim());
  assert.ok(Number.isInteger(zombie) && zombie > 0, `a pid, got ${line.toString()}`);
  const deadline = Date.now() + 5000;
  while (stateOf(zombie) !== 'Z' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(stateOf(zombie), 'Z', 'the background sleep ended and was not reaped');
  assert.doesNotThrow(() => process.kill(zombie, 0), 'the kernel still has the pid');
  assert.equal(pidAlive(zombie), false);
});

test('pidAlive: a pid nobody has is not alive', () => {
  // Linux pids stop below 2^22; this one cannot be in use.
  assert.equal(pidAlive(4_194_305), false);
});
