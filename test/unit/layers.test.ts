import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../helpers/paths.js';

// DESIGN.md: imports point down the layers only. A module may import its own layer or lower.
const LEVEL: Record<string, number> = {
  util: 0,
  native: 0,
  crypto: 1,
  wire: 1,
  ike: 2,
  esp: 2,
  pki: 2,
  overlay: 2,
  store: 2,
  config: 2,
  host: 3,
  operator: 4,
  agent: 4,
  ipsecd: 4,
  cluster: 5,
  cli: 6,
};

/** The daemons: one level, and none imports another (what two of them share lives in host/). */
const DAEMONS = new Set(['operator', 'agent', 'ipsecd']);

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

test('every source directory has a layer, imports point down only, and daemons never import each other', () => {
  const src = path.join(repoRoot, 'src');
  const violations: string[] = [];
  for (const file of sources(src)) {
    const from = path.relative(src, file).split(path.sep)[0]!;
    assert.ok(from in LEVEL, `src/${from}/ has no layer in DESIGN.md order (add it to this test deliberately)`);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const target = path.relative(src, path.resolve(path.dirname(file), m[1]!)).split(path.sep)[0]!;
      if (target.startsWith('..')) {
        violations.push(`${path.relative(repoRoot, file)} imports outside src: ${m[1]}`);
        continue;
      }
      if (!(target in LEVEL)) continue;
      if (LEVEL[target]! > LEVEL[from]!) {
        violations.push(`${path.relative(repoRoot, file)} (${from}) imports ${m[1]} (${target}, a higher layer)`);
      } else if (DAEMONS.has(from) && DAEMONS.has(target) && from !== target) {
        violations.push(`${path.relative(repoRoot, file)} (${from}) imports ${m[1]} (${target}, a sibling daemon)`);
      }
    }
  }
  assert.deepEqual(violations, []);
});
