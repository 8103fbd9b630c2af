#!/usr/bin/env node
// Runs the compiled test files with node's test runner, one file at a time (tests that build
// network namespaces must not overlap). `node scripts/run-tests.mjs unit` runs only test/unit.
import { readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const only = process.argv.slice(2);

function walk(dir) {
  let out = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(walk(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const testRoot = path.join(root, 'dist', 'test');
let files = walk(testRoot).sort();
if (only.length > 0) {
  files = files.filter((f) => only.some((o) => path.relative(testRoot, f).startsWith(o)));
}
if (files.length === 0) {
  console.error('run-tests: no test files found (did the build run?)');
  process.exit(1);
}

if (process.getuid?.() === 0 && !only.every((o) => o.startsWith('unit'))) {
  const r = spawnSync('bash', [path.join(root, 'scripts', 'install-deps.sh')], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const r = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  { stdio: 'inherit', cwd: root },
);
process.exit(r.status ?? 1);
