// The coverage feedback of `npm run fuzz` (test/fuzz/coverage.ts, test/fuzz/campaign.ts): V8's
// block coverage says which inputs reached code no input reached before, and a guided campaign
// grows its corpus from them. Checked on a small parser written for the test, whose deepest branch
// needs six bytes each in one sixteenth of their range: found step by step with the feedback
// (a few thousand inputs a step), not without it (all six at once: under one input in 10^7).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CoverageMap } from '../fuzz/coverage.js';
import { runCampaign } from '../fuzz/campaign.js';
import type { FuzzTarget } from '../fuzz/target.js';

const dir = mkdtempSync(path.join(tmpdir(), 'oit-fuzzcov-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const PARSER = `
export function parse(b) {
  if (b.length < 6) return 'short';
  if (b[0] >> 4 !== 0x4) return 'no';
  if (b[1] >> 4 !== 0x5) return '1';
  if (b[2] >> 4 !== 0x5) return '2';
  if (b[3] >> 4 !== 0x4) return '3';
  if (b[4] >> 4 !== 0x5) return '4';
  if (b[5] >> 4 !== 0x5) return '5';
  return 'FUZZ';
}
export function other(x) { return x > 1 ? 'big' : 'small'; }
`;

/** A fresh copy of the parser, under its own name, loaded after `map` started (V8 instruments only then). */
async function loadParser(name: string): Promise<{ parse: (b: Buffer) => string; other: (x: number) => string }> {
  const file = path.join(dir, `${name}.mjs`);
  writeFileSync(file, PARSER);
  return (await import(pathToFileURL(file).href)) as { parse: (b: Buffer) => string; other: (x: number) => string };
}

test('a coverage map reports code reached for the first time, once', async () => {
  const map = new CoverageMap('parser-a.mjs');
  try {
    const { parse, other } = await loadParser('parser-a');
    map.discard();
    assert.equal(parse(Buffer.from('xxxxxx')), 'no');
    const first = map.fresh();
    assert.ok(first.size > 0, 'the first run reaches new code');
    map.commit(first);
    assert.equal(parse(Buffer.from('yyyyyy')), 'no');
    assert.equal(map.fresh().size, 0, 'the same path again is nothing new');
    assert.equal(parse(Buffer.from('Fxxxxx')), '1');
    const deeper = map.fresh();
    assert.ok(deeper.size > 0, 'one branch further is new');
    map.commit(deeper);
    assert.equal(map.fresh().size, 0, 'nothing ran since the last read');
    other(0);
    const fn = map.fresh();
    assert.equal(fn.size, 1, `a function run for the first time is one feature: ${[...fn].join(' ')}`);
    map.commit(fn);
    other(5);
    const branch = map.fresh();
    assert.equal(branch.size, 1, 'its other branch, once known to exist, is one more');
    map.commit(branch);
    assert.ok(map.size >= 4, `${map.size} features`);
  } finally {
    map.close();
  }
});

test('a guided campaign finds the six bytes; the same campaign without feedback does not', async () => {
  const results: Record<string, { found: number; kept: number; features: number }> = {};
  for (const mode of ['guided', 'measured'] as const) {
    const name = `parser-${mode}`;
    const map = new CoverageMap(`${name}.mjs`);
    try {
      const { parse } = await loadParser(name);
      let found = 0;
      const target: FuzzTarget = {
        name, what: 'four nested byte checks', corpusDirs: [],
        create: () => ({
          seeds: () => [Buffer.alloc(6)],
          run: (b) => {
            const cause = parse(b);
            if (cause === 'FUZZ') found++;
            return cause;
          },
          check: () => {},
        }),
      };
      // Bounded by iterations (seeded: the same inputs every run), not by time: a loaded machine
      // ran out of a 60 s budget before the guided campaign got far enough (about 5 s when quiet).
      const r = await runCampaign(target, { iterations: 150_000, seconds: 900, seed: 7, coverage: mode, coverageMap: map });
      assert.equal(r.crash, undefined);
      assert.ok(r.coverage);
      results[mode] = { found, kept: r.coverage.kept, features: r.coverage.features };
    } finally {
      map.close();
    }
  }
  process.stdout.write(`# ${JSON.stringify(results)}\n`);
  assert.ok(results.guided!.found > 0, `guided: ${JSON.stringify(results.guided)}`);
  assert.ok(results.guided!.kept >= 6, 'each byte found joined the corpus');
  assert.equal(results.measured!.found, 0, `without feedback: ${JSON.stringify(results.measured)}`);
  assert.equal(results.measured!.kept, 0);
  assert.ok(results.guided!.features > results.measured!.features);
});
