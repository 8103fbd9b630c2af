import { CauseCounts, seedsFor, type FuzzTarget } from './target.js';
import { Rng, randomInput } from './mutate.js';

export interface CampaignOptions {
  iterations: number;
  /** Stops early after this many seconds (0: no limit). */
  seconds: number;
  seed: number;
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
  crash?: { message: string; input: Buffer };
}

/**
 * One campaign: every seed as it is, then mutated seeds from a seeded generator until the input
 * or time budget is spent. The first exception (from run or check) ends it as a crash, with the
 * input that caused it.
 */
export async function runCampaign(t: FuzzTarget, o: CampaignOptions): Promise<CampaignResult> {
  const h = await t.create();
  const seeds = seedsFor(t, h).map((s) => s.bytes);
  const rng = new Rng(o.seed);
  const counts = new CauseCounts();
  const start = Date.now();
  const checkEvery = o.checkEvery ?? 500;
  let inputs = 0;
  let crash: CampaignResult['crash'];
  try {
    for (let i = 0; i < o.iterations; i++) {
      if (o.seconds > 0 && (i & 63) === 0 && Date.now() - start > o.seconds * 1000) break;
      const input = i < seeds.length ? seeds[i]! : randomInput(rng, seeds);
      o.before?.(input);
      try {
        counts.add(await h.run(input));
        inputs++;
        if (inputs % checkEvery === 0) h.check();
      } catch (e) {
        crash = { message: (e as Error).stack ?? String(e), input };
        break;
      }
    }
    if (!crash) {
      try {
        h.check();
      } catch (e) {
        crash = { message: (e as Error).stack ?? String(e), input: Buffer.alloc(0) };
      }
    }
  } finally {
    await h.close?.();
  }
  return {
    target: t.name, inputs, seeds: seeds.length, ms: Date.now() - start, causes: counts.toJSON(),
    sizes: h.sizes?.() ?? {}, heapMb: Math.round(process.memoryUsage().heapUsed / 1e6), ...(crash ? { crash } : {}),
  };
}
