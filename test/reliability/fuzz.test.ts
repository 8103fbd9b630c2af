// Property tests over every parser that takes bytes from the network or the user (the targets of
// test/fuzz/targets, which `npm run fuzz` runs for longer): fast-check draws a corpus entry (real
// captures of strongSwan, libreswan and our own daemons, see test/fixtures/fuzz) and a list of
// mutations, and shrinks any failure to a small one. Every input must come back with a cause,
// never an exception; each harness's state bounds hold throughout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TARGETS } from '../fuzz/targets/index.js';
import { CauseCounts, seedsFor } from '../fuzz/target.js';
import { inputArb } from '../fuzz/mutate.js';

/** Inputs per target in the suite: enough to meet every cause, a few seconds at most each. */
const RUNS: Record<string, number> = {
  'ike-message': 3000, 'ike-inner': 2000, 'ike-engine': 3000, 'esp-udp4500': 3000, geneve: 3000,
  'ipv4-udp': 3000, 'cluster-config': 600, 'ipsecd-config': 600, 'store-document': 300,
};
const SEED = Number(process.env.FUZZ_SEED ?? 20261205);

for (const t of TARGETS) {
  test(`fuzz ${t.name}: ${t.what}`, { timeout: 120_000 }, async () => {
    const h = await t.create();
    try {
      const seeds = seedsFor(t, h);
      assert.ok(seeds.length > 0, 'the target has seeds');
      const counts = new CauseCounts();
      // The seeds as they are: real traffic and documents, most of them accepted.
      let accepted = 0;
      for (const s of seeds) {
        const c = await h.run(s.bytes);
        assert.equal(typeof c, 'string', s.name);
        if (c.startsWith('accepted:')) accepted++;
        counts.add(c);
      }
      assert.ok(accepted > 0, `some seeds are accepted: ${JSON.stringify(counts.toJSON())}`);
      const corpus = seeds.map((s) => s.bytes);
      let n = 0;
      await fc.assert(
        fc.asyncProperty(inputArb(corpus), async (input) => {
          const cause = await h.run(input);
          assert.ok(typeof cause === 'string' && cause.length > 0);
          counts.add(cause);
          if (++n % 200 === 0) h.check();
        }),
        { numRuns: RUNS[t.name] ?? 1000, seed: SEED, endOnFailure: true },
      );
      h.check();
      const causes = counts.toJSON();
      assert.equal(counts.total(), seeds.length + n);
      // The mutations reach past the first check: refusals under several causes, some acceptances.
      assert.ok(Object.keys(causes).filter((c) => !c.startsWith('accepted:')).length >= 3, JSON.stringify(causes));
      process.stdout.write(`# ${t.name}: ${counts.total()} inputs ${JSON.stringify(causes)} ${JSON.stringify(h.sizes?.() ?? {})}\n`);
    } finally {
      await h.close?.();
    }
  });
}
