#!/usr/bin/env node
// Runs the compiled test files with node's test runner, one file at a time (tests that build
// network namespaces must not overlap). `node scripts/run-tests.mjs unit` runs only test/unit.
// Before any file outside test/unit, scripts/install-deps.sh checks the Debian packages the suite
// needs (as root it installs the missing ones); see scripts/test-plan.mjs. OI_TEST_DIR replaces
// dist/test and OI_INSTALL_DEPS the install script (the runner's own tests use both).
import { readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { planTestRun } from './test-plan.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function walk(dir) {
  let out = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(walk(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const testRoot = process.env.OI_TEST_DIR || path.join(root, 'dist', 'test');
let all = [];
try {
  all = walk(testRoot);
} catch { /* no build yet: reported below */ }
const plan = planTestRun(all, process.argv.slice(2), { testRoot, repoRoot: root, env: process.env });
if (plan.files.length === 0) {
  console.error('run-tests: no test files found (did the build run?)');
  process.exit(1);
}

if (plan.install) {
  const r = spawnSync(plan.install[0], plan.install.slice(1), { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const r = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=1', '--test-reporter=spec', ...plan.files],
  { stdio: 'inherit', cwd: root },
);
process.exit(r.status ?? 1);
