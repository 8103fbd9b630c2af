import { CauseCounts, seedsFor, type FuzzTarget } from './target.js';
import { Rng, mutateInput, randomInput } from './mutate.js';
import { CoverageMap } from './coverage.js';

export interface CampaignOptions {
  iterations: number;
  /** Stops early after this many seconds (0: no limit). */
  seconds: number;
  seed: number;
  /**
   * 'guided': block coverage is measured and inputs that reach new code join the corpus that
   * later inputs are mutated from (coverage-guided); 'measured': coverage is measured only, the
   * corpus stays the seeds (for comparison); 'off': no coverage (fastest).
   */
  coverage?: 'guided' | 'measured' | 'off';
  /**
   * The coverage map to read. V8 instruments only functions compiled after coverage starts, so
   * the caller should create it before it loads the code under test (worker.ts does); without
   * one, the campaign starts its own and sees only what compiles from then on.
   */
  coverageMap?: CoverageMap;
  /** Called with each input that reached new code (e.g. to save it as a corpus file). */
  onNewCoverage?: (input: Buffer) => void;
  /** Called with each input before it runs (the watchdog's record of what is in flight). */
  before?: (input: Buffer) => void;
  /** check() runs every this many inputs. */
  checkEvery?: number;
}

export interface CampaignResult {
  target: string;
  inputs: number;
  seeds: number;
  ms: number;
  causes: Record<string, number>;
  sizes: Record<string, number>;
  heapMb: number;
  /** Features (executed functions and blocks of src/) reached, and inputs kept for reaching new ones. */
  coverage?: { mode: 'guided' | 'measured'; features: number; featuresBySeeds: number; kept: number };
  crash?: { message: string; input: Buffer };
}

/** Inputs run between two coverage reads: a read costs milliseconds, an input microseconds. */
const BATCH = 64;
/** The corpus a guided campaign grows stays below this (oldest finds are replaced). */
const MAX_KEPT = 4096;
/** Where the code under test is loaded from (dist/src/…), as opposed to harness and test code. */
export const CODE_UNDER_TEST = '/dist/src/';

/**
 * One campaign: every seed as it is, then mutated inputs from a seeded generator until the input
 * or time budget is spent. Guided, a batch that reached new code is run again input by input to
 * find which inputs did, and those join the corpus (libFuzzer's loop, with V8's block coverage
 * as the signal). The first exception (from run or check) ends it as a crash, with the input.
 */
export async function runCampaign(t: FuzzTarget, o: CampaignOptions): Promise<CampaignResult> {
  const h = await t.create();
  const seeds = seedsFor(t, h).map((s) => s.bytes);
  const mode = o.coverage ?? 'off';
  const cov = mode === 'off' ? undefined : (o.coverageMap ?? new CoverageMap(CODE_UNDER_TEST));
  cov?.discard(); // the harness's setup is not the inputs' doing
  const kept: Buffer[] = [];
  const rng = new Rng(o.seed);
  const counts = new CauseCounts();
  const start = Date.now();
  const checkEvery = o.checkEvery ?? 500;
  let inputs = 0;
  let featuresBySeeds = 0;
  let crash: CampaignResult['crash'];
  const runOne = async (input: Buffer): Promise<void> => {
    o.before?.(input);
    counts.add(await h.run(input));
    inputs++;
    if (inputs % checkEvery === 0) h.check();
  };
  const pick = (): Buffer => {
    // Half the mutations start from a find of this campaign, when there are any: new code is
    // where more new code is most likely to be.
    if (mode === 'guided' && kept.length > 0 && rng.below(2) === 0) return mutateInput(rng, kept[rng.below(kept.length)]!, seeds);
    return randomInput(rng, seeds);
  };
  let current: Buffer = Buffer.alloc(0);
  try {
    for (const s of seeds) {
      current = s;
      await runOne(s);
    }
    if (cov) {
      // The seeds are the corpus already: their features need no attribution.
      const bySeeds = cov.fresh();
      featuresBySeeds = bySeeds.size;
      cov.commit(bySeeds);
    }
    while (inputs < o.iterations) {
      if (o.seconds > 0 && Date.now() - start > o.seconds * 1000) break;
      const batch: Buffer[] = [];
      for (let i = 0; i < BATCH && inputs < o.iterations; i++) {
        current = pick();
        batch.push(current);
        await runOne(current);
      }
      if (!cov) continue;
      const fresh = cov.fresh();
      if (fresh.size === 0) continue;
      if (mode === 'measured') {
        cov.commit(fresh);
        continue;
      }
      // Which inputs of the batch reached it: each again, alone (a stateful harness may not
      // repeat itself exactly; what no single input reproduces is recorded and left).
      for (const input of batch) {
        current = input;
        await runOne(input);
        const mine = [...cov.fresh()].filter((f) => fresh.has(f));
        if (mine.length === 0) continue;
        cov.commit(mine);
        if (kept.length < MAX_KEPT) kept.push(input);
        else kept[rng.below(MAX_KEPT)] = input;
        o.onNewCoverage?.(input);
      }
      cov.commit(fresh);
    }
    h.check();
  } catch (e) {
    crash = { message: (e as Error).stack ?? String(e), input: current };
  } finally {
    await h.close?.();
  }
  const coverage = cov && mode !== 'off' ? { mode, features: cov.size, featuresBySeeds, kept: kept.length } : undefined;
  if (!o.coverageMap) cov?.close();
  return {
    target: t.name, inputs, seeds: seeds.length, ms: Date.now() - start, causes: counts.toJSON(),
    sizes: h.sizes?.() ?? {}, heapMb: Math.round(process.memoryUsage().heapUsed / 1e6),
    ...(coverage ? { coverage } : {}), ...(crash ? { crash } : {}),
  };
}
