// The handshake bench's CPU-wait figures: on a busy two-core machine a CPU-bound rate falls while
// the CPU per handshake stays, and only the run-queue wait from schedstat shows why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuWaitShare, parseSchedstat, schedTimes } from '../../bench/lib/proc.js';

test('schedstat: nanoseconds on a CPU and waiting on a run queue, as seconds', () => {
  assert.deepEqual(parseSchedstat('2500000000 750000000 1234\n'), { onCpuS: 2.5, waitS: 0.75 });
  assert.throws(() => parseSchedstat(''), /unexpected schedstat line/);
  assert.throws(() => parseSchedstat('12 x 3'), /unexpected schedstat line/);
});

test('wait share: the wait over the window, per wall second; null without both ends or a window', () => {
  const a = { onCpuS: 1, waitS: 0.5 };
  assert.equal(cpuWaitShare(a, { onCpuS: 3, waitS: 2.5 }, 4), 0.5);
  // Two threads waiting at once count twice (charon's thread pool).
  assert.equal(cpuWaitShare(a, { onCpuS: 3, waitS: 6.5 }, 4), 1.5);
  assert.equal(cpuWaitShare(undefined, a, 4), null);
  assert.equal(cpuWaitShare(a, a, 0), null);
});

test('schedTimes of this process sums its threads and grows while it waits for a CPU or runs', () => {
  const t0 = schedTimes('self');
  assert.ok(t0, 'the kernel keeps schedstats');
  // Busy until this process has had 30 ms of CPU (by its own clock, not the wall's: on a loaded
  // machine 30 ms of wall time can hold much less CPU); schedstat's on-CPU time must show it.
  const c0 = process.cpuUsage();
  const used = (): number => {
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000;
  };
  while (used() < 30);
  const t1 = schedTimes('self')!;
  assert.ok(t1.onCpuS - t0.onCpuS >= 0.02, `on-CPU time grew by ${t1.onCpuS - t0.onCpuS} s`);
  assert.ok(t1.waitS >= t0.waitS);
  assert.equal(schedTimes(2 ** 22 + 1), undefined); // above pid_max's ceiling: no such process
});
