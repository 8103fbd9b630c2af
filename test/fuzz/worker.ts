import { parentPort, workerData } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CoverageMap } from './coverage.js';

/**
 * One campaign in a worker thread. Before each input it copies the input into shared memory and
 * bumps a counter, so the main thread's watchdog can name the input of a hang (an input that
 * never returns) and write it to a file even though this thread is stuck.
 */
interface Job {
  target: string; iterations: number; seconds: number; seed: number; shared: SharedArrayBuffer;
  coverage: 'guided' | 'measured' | 'off'; corpusOut?: string;
}
const job = workerData as Job;
// Coverage first, the code under test after: V8 instruments only what compiles once it is on.
const coverageMap = job.coverage === 'off' ? undefined : new CoverageMap('/dist/src/');
const { TARGETS } = await import('./targets/index.js');
const { runCampaign } = await import('./campaign.js');
const t = TARGETS.find((x) => x.name === job.target);
if (!t) throw new Error(`no target ${job.target}`);
const meta = new Int32Array(job.shared, 0, 2);
const bytes = new Uint8Array(job.shared, 8);
const r = await runCampaign(t, {
  iterations: job.iterations,
  seconds: job.seconds,
  seed: job.seed,
  coverage: job.coverage,
  coverageMap,
  onNewCoverage: job.corpusOut ? saveFind(path.join(job.corpusOut, job.target)) : undefined,
  before: (input) => {
    const n = Math.min(input.length, bytes.length);
    bytes.set(input.subarray(0, n));
    Atomics.store(meta, 1, n);
    Atomics.add(meta, 0, 1);
  },
});
parentPort!.postMessage({ ...r, crash: r.crash ? { message: r.crash.message, input: r.crash.input.toString('base64') } : undefined });

/** Writes each input that reached new code as <dir>/<sha1>.bin (libFuzzer's corpus layout). */
function saveFind(dir: string): (input: Buffer) => void {
  mkdirSync(dir, { recursive: true });
  return (input) => writeFileSync(path.join(dir, `${createHash('sha1').update(input).digest('hex')}.bin`), input);
}
