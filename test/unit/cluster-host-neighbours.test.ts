import { test } from 'node:test';
import assert from 'node:assert/strict';
import { limitsFor, neighboursNeeded, parseTableEntries } from '../../src/cluster/host-neighbours.js';

/** The host's shared neighbour table sized for a local cluster (host-neighbours.ts). */

test('a cluster needs an entry per ordered node pair and two per pod', () => {
  assert.equal(neighboursNeeded(5, 5), 30);
  assert.equal(neighboursNeeded(50, 50), 2550);
  assert.equal(neighboursNeeded(100, 100), 10_100);
});

test('the kernel defaults (1024) hold 20 nodes beside a few hundred entries, not 50 or 100', () => {
  const defaults = { gcThresh2: 512, gcThresh3: 1024 };
  // 20 nodes: 420 entries; with 100 in use, 1544 rounds up to 2048 > 512: raised — gc_thresh2 would collect in-use entries.
  assert.deepEqual(limitsFor(defaults, 100, neighboursNeeded(20, 20)), { gcThresh2: 2048, gcThresh3: 4096 });
  assert.deepEqual(limitsFor(defaults, 1000, neighboursNeeded(50, 50)), { gcThresh2: 5120, gcThresh3: 10_240 });
  assert.deepEqual(limitsFor(defaults, 0, neighboursNeeded(100, 100)), { gcThresh2: 11_264, gcThresh3: 22_528 });
});

test('limits already large enough are left alone, and none is ever lowered', () => {
  assert.equal(limitsFor({ gcThresh2: 16_384, gcThresh3: 32_768 }, 500, neighboursNeeded(100, 100)), undefined);
  // gc_thresh3 high but gc_thresh2 low: only gc_thresh2 moves up, gc_thresh3 stays.
  assert.deepEqual(limitsFor({ gcThresh2: 512, gcThresh3: 100_000 }, 0, neighboursNeeded(50, 50)), { gcThresh2: 4096, gcThresh3: 100_000 });
  // gc_thresh2 high, gc_thresh3 below it: gc_thresh3 is raised to twice gc_thresh2.
  assert.deepEqual(limitsFor({ gcThresh2: 8192, gcThresh3: 1024 }, 0, neighboursNeeded(20, 20)), { gcThresh2: 8192, gcThresh3: 16_384 });
});

test('the table summary gives the entries of every namespace (hex, first column of the first row)', () => {
  const stat = [
    'entries  allocs   destroys hash_grows lookups  hits     res_failed rcv_probes_mcast rcv_probes_ucast periodic_gc_runs forced_gc_runs unresolved_discards table_fulls',
    '00000408 00007660 00007e47 00000003   000dc9d4 00060ce4 00000741   00000000         00000000         000005a3         0001bc94       0000007e            0001aebd',
    '00000408 00006ef6 00006307 00000005   000d3af8 0005d3a5 0000076f   00000000         00000000         00000000         0001b910       00000273            0001abd2',
  ].join('\n');
  assert.equal(parseTableEntries(stat), 1032);
  assert.equal(parseTableEntries('entries\n'), undefined);
  assert.equal(parseTableEntries(''), undefined);
  assert.equal(parseTableEntries('entries\nzz 01'), undefined);
});
