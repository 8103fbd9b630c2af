import { Session } from 'node:inspector';

/**
 * Block coverage of the code under test, read from V8 (the inspector's precise block coverage)
 * in the fuzzing thread itself: the feedback a coverage-guided fuzzer needs, without a native
 * fuzzing engine (none builds here, see docs/reliability.md).
 *
 * V8 reports, per executed function, the function's range and the nested ranges of blocks that
 * did *not* run; a block that ran is simply not reported (its count equals its parent's, and V8
 * folds it away), and each take resets the counts. So a block is only known once some run skipped
 * it: every zero range ever seen for a function is remembered as one of its blocks, and in a later
 * take a known block counts as covered when its function ran and no zero range of that take
 * contains it. A feature is a covered block, or an executed function; an input is interesting when
 * it reaches a feature no earlier input reached.
 */
export class CoverageMap {
  private readonly session = new Session();
  /** Known blocks per function, keyed `${url}|${functionStart}`: [start, end] pairs, flat. */
  private readonly blocks = new Map<string, number[]>();
  private readonly seen = new Set<string>();

  /** @param includes — only scripts whose URL contains this are measured (the code under test). */
  constructor(private readonly includes: string) {
    this.session.connect();
    this.post('Profiler.enable');
    // Counts, not binary: binary mode reports each function as executed only the first time.
    this.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  /** Features reached so far. */
  get size(): number {
    return this.seen.size;
  }

  /** Drops what ran since the last take (e.g. a harness's own setup) without counting it. */
  discard(): void {
    this.observe();
  }

  /** What ran since the last take, as features not reached before; nothing is recorded yet. */
  fresh(): Set<string> {
    const out = new Set<string>();
    for (const f of this.observe()) if (!this.seen.has(f)) out.add(f);
    return out;
  }

  /** Records features as reached. */
  commit(features: Iterable<string>): void {
    for (const f of features) this.seen.add(f);
  }

  close(): void {
    try {
      this.post('Profiler.stopPreciseCoverage');
      this.post('Profiler.disable');
    } finally {
      this.session.disconnect();
    }
  }

  private observe(): string[] {
    const res = this.post('Profiler.takePreciseCoverage') as { result: ScriptCoverage[] };
    const features: string[] = [];
    for (const script of res.result) {
      if (!script.url.includes(this.includes)) continue;
      for (const fn of script.functions) {
        const [whole, ...nested] = fn.ranges;
        if (!whole || whole.count === 0) continue;
        const key = `${script.url}|${whole.startOffset}`;
        features.push(key);
        let known = this.blocks.get(key);
        if (!known) this.blocks.set(key, (known = []));
        const skipped = nested.filter((r) => r.count === 0);
        for (const r of skipped) if (!hasPair(known, r.startOffset, r.endOffset)) known.push(r.startOffset, r.endOffset);
        for (let i = 0; i < known.length; i += 2) {
          const s = known[i]!;
          const e = known[i + 1]!;
          if (!skipped.some((r) => r.startOffset <= s && e <= r.endOffset)) features.push(`${key}|${s}-${e}`);
        }
      }
    }
    return features;
  }

  private post(method: string, params?: object): unknown {
    // The in-process session answers synchronously: the callback has run when post returns.
    let result: unknown;
    let error: Error | null = null;
    this.session.post(method, params ?? {}, (err: Error | null, res: unknown) => {
      error = err;
      result = res;
    });
    if (error) throw error;
    return result;
  }
}

interface ScriptCoverage {
  url: string;
  functions: { ranges: { startOffset: number; endOffset: number; count: number }[] }[];
}

function hasPair(flat: number[], s: number, e: number): boolean {
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === s && flat[i + 1] === e) return true;
  return false;
}
