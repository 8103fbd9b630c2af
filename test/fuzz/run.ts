/**
 * `npm run fuzz`: long campaigns against every fuzz target (test/fuzz/targets), one worker thread
 * each, one after the other. Prints per-target input counts, causes and state sizes; exits 1 on
 * any crash (an exception, a broken invariant) or hang (no progress for --hang-seconds), writing
 * the input to <out>/<target>-<crash|hang>-<sha1>.bin.
 *
 *   npm run fuzz -- [--seconds 60] [--iterations 1000000] [--seed N] [--target NAME]… [--out DIR]
 *                   [--coverage guided|measured|off] [--corpus-out DIR] [--json]
 *
 * By default the campaigns are coverage-guided (V8 block coverage of dist/src, test/fuzz/coverage.ts):
 * inputs that reach new code join the corpus; --corpus-out saves them, one file each, to seed later
 * runs or the fixtures.
 */
import { Worker } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TARGETS } from './targets/index.js';
import type { CampaignResult } from './campaign.js';

type CoverageMode = 'guided' | 'measured' | 'off';
interface Args { seconds: number; iterations: number; seed: number; targets: string[]; out: string; hangSeconds: number; json: boolean; coverage: CoverageMode; corpusOut?: string }

function parseArgs(argv: string[]): Args {
  const a: Args = { seconds: 60, iterations: 100_000_000, seed: Date.now() % 2 ** 31, targets: [], out: 'fuzz-crashes', hangSeconds: 10, json: false, coverage: 'guided' };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    const num = (): number => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) usage(`${argv[i]} needs a number`);
      i++;
      return n;
    };
    switch (argv[i]) {
      case '--seconds': a.seconds = num(); break;
      case '--iterations': a.iterations = num(); break;
      case '--seed': a.seed = num(); break;
      case '--hang-seconds': a.hangSeconds = num(); break;
      case '--target': a.targets.push(v ?? usage('--target needs a name')); i++; break;
      case '--out': a.out = v ?? usage('--out needs a directory'); i++; break;
      case '--json': a.json = true; break;
      case '--coverage':
        if (v !== 'guided' && v !== 'measured' && v !== 'off') usage('--coverage is guided, measured or off');
        a.coverage = v;
        i++;
        break;
      case '--corpus-out': a.corpusOut = v ?? usage('--corpus-out needs a directory'); i++; break;
      case '--help': usage(); break;
      default: usage(`unknown argument ${argv[i]}`);
    }
  }
  for (const t of a.targets) if (!TARGETS.some((x) => x.name === t)) usage(`no target ${t} (${TARGETS.map((x) => x.name).join(', ')})`);
  return a;
}

function usage(problem?: string): never {
  if (problem) console.error(`fuzz: ${problem}`);
  console.error('usage: npm run fuzz -- [--seconds S per target] [--iterations N per target] [--seed N] [--target NAME]... [--out DIR] [--hang-seconds S]');
  console.error('                     [--coverage guided|measured|off] [--corpus-out DIR] [--json]');
  console.error(`targets: ${TARGETS.map((t) => t.name).join(', ')}`);
  process.exit(2);
}

const SETUP_SECONDS = 120;

type Outcome = Omit<CampaignResult, 'crash'> & { crash?: { message: string; input: string }; hang?: boolean; file?: string };

function save(out: string, target: string, kind: string, input: Buffer): string {
  mkdirSync(out, { recursive: true });
  const file = path.join(out, `${target}-${kind}-${createHash('sha1').update(input).digest('hex').slice(0, 12)}.bin`);
  writeFileSync(file, input);
  return file;
}

function runOne(name: string, a: Args): Promise<Outcome> {
  const shared = new SharedArrayBuffer(8 + 1024 * 1024);
  const meta = new Int32Array(shared, 0, 2);
  const worker = new Worker(path.join(path.dirname(fileURLToPath(import.meta.url)), 'worker.js'), {
    workerData: { target: name, iterations: a.iterations, seconds: a.seconds, seed: a.seed, shared, coverage: a.coverage, corpusOut: a.corpusOut },
  });
  return new Promise((resolve, reject) => {
    let last = -1;
    let still = 0;
    const started = Date.now();
    const dog = setInterval(() => {
      const n = Atomics.load(meta, 0);
      still = n === last ? still + 1 : 0;
      last = n;
      // Before the first input the worker is loading and building its harness (an engine pair
      // with handshakes, a store): that gets SETUP_SECONDS, inputs get --hang-seconds each.
      if (n === 0 ? still >= SETUP_SECONDS : still >= a.hangSeconds) {
        clearInterval(dog);
        void worker.terminate();
        if (n === 0) {
          resolve({ target: name, inputs: 0, seeds: 0, ms: Date.now() - started, causes: {}, sizes: {}, heapMb: 0, crash: { message: `harness setup took over ${SETUP_SECONDS} s`, input: '' } });
          return;
        }
        const input = Buffer.from(new Uint8Array(shared, 8, Atomics.load(meta, 1)));
        resolve({ target: name, inputs: n, seeds: 0, ms: Date.now() - started, causes: {}, sizes: {}, heapMb: 0, hang: true, file: save(a.out, name, 'hang', input) });
      }
    }, 1000);
    worker.once('message', (r: Outcome) => {
      clearInterval(dog);
      if (r.crash) r.file = save(a.out, name, 'crash', Buffer.from(r.crash.input, 'base64'));
      resolve(r);
    });
    worker.once('error', (e) => {
      clearInterval(dog);
      // An exception outside run() (harness setup, the worker itself): a crash, no single input.
      resolve({ target: name, inputs: Atomics.load(meta, 0), seeds: 0, ms: Date.now() - started, causes: {}, sizes: {}, heapMb: 0, crash: { message: e.stack ?? String(e), input: '' } });
    });
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`worker for ${name} exited with ${code}`));
    });
  });
}

const args = parseArgs(process.argv.slice(2));
const names = args.targets.length > 0 ? args.targets : TARGETS.map((t) => t.name);
const results: Outcome[] = [];
console.error(`fuzz: ${names.length} targets, ${args.seconds || '∞'} s / ${args.iterations} inputs each, seed ${args.seed}, coverage ${args.coverage}`);
for (const name of names) {
  const r = await runOne(name, args).catch((e: Error): Outcome => ({ target: name, inputs: 0, seeds: 0, ms: 0, causes: {}, sizes: {}, heapMb: 0, crash: { message: e.message, input: '' } }));
  results.push(r);
  if (!args.json) {
    const status = r.hang ? `HANG (input in ${r.file})` : r.crash ? `CRASH (input in ${r.file ?? '-'})\n${r.crash.message}` : 'ok';
    console.log(`\n${r.target}: ${r.inputs} inputs (${r.seeds} seeds) in ${(r.ms / 1000).toFixed(1)} s, heap ${r.heapMb} MB — ${status}`);
    for (const [cause, n] of Object.entries(r.causes)) console.log(`  ${String(n).padStart(9)}  ${cause}`);
    if (Object.keys(r.sizes).length > 0) console.log(`  state: ${Object.entries(r.sizes).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    if (r.coverage) console.log(`  coverage (${r.coverage.mode}): ${r.coverage.features} features, ${r.coverage.featuresBySeeds} by the seeds alone; ${r.coverage.kept} inputs kept for new coverage`);
  }
}
if (args.json) console.log(JSON.stringify({ seed: args.seed, results: results.map((r) => ({ ...r, crash: r.crash?.message })) }, null, 1));
const bad = results.filter((r) => r.crash || r.hang);
console.error(`\nfuzz: ${results.reduce((n, r) => n + r.inputs, 0)} inputs, ${bad.length} target(s) with a crash or hang`);
process.exit(bad.length > 0 ? 1 : 0);
