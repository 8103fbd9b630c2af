import { parentPort, workerData } from 'node:worker_threads';
import { TARGETS } from './targets/index.js';
import { runCampaign } from './campaign.js';

/**
 * One campaign in a worker thread. Before each input it copies the input into shared memory and
 * bumps a counter, so the main thread's watchdog can name the input of a hang (an input that
 * never returns) and write it to a file even though this thread is stuck.
 */
interface Job { target: string; iterations: number; seconds: number; seed: number; shared: SharedArrayBuffer }
const job = workerData as Job;
const t = TARGETS.find((x) => x.name === job.target);
if (!t) throw new Error(`no target ${job.target}`);
const meta = new Int32Array(job.shared, 0, 2);
const bytes = new Uint8Array(job.shared, 8);
const r = await runCampaign(t, {
  iterations: job.iterations,
  seconds: job.seconds,
  seed: job.seed,
  before: (input) => {
    const n = Math.min(input.length, bytes.length);
    bytes.set(input.subarray(0, n));
    Atomics.store(meta, 1, n);
    Atomics.add(meta, 0, 1);
  },
});
parentPort!.postMessage({ ...r, crash: r.crash ? { message: r.crash.message, input: r.crash.input.toString('base64') } : undefined });
