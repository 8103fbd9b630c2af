import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../helpers/paths.js';

// `npm test` = scripts/run-tests.mjs: the decision (scripts/test-plan.mjs), the runner doing it in
// order with a stand-in install script, and scripts/install-deps.sh deciding with stand-ins for
// dpkg-query, id and apt-get. Nothing real is installed.

interface Plan { files: string[]; install: string[] | null }
const { planTestRun } = (await import(pathToFileURL(path.join(repoRoot, 'scripts', 'test-plan.mjs')).href)) as {
  planTestRun: (all: string[], prefixes: string[], o: { testRoot: string; repoRoot: string; env: Record<string, string | undefined> }) => Plan;
};

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'oi-runner-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function executable(file: string, text: string): string {
  writeFileSync(file, text);
  chmodSync(file, 0o755);
  return file;
}

test('the plan: the install step comes first whenever a file outside test/unit runs (no arguments included)', () => {
  const root = '/r/dist/test';
  const all = ['unit/b.test.js', 'netns/up.test.js', 'unit/a.test.js', 'interop/x.test.js'].map((f) => path.join(root, f));
  const o = { testRoot: root, repoRoot: '/r', env: {} };
  const installDeps = ['bash', '/r/scripts/install-deps.sh'];
  assert.deepEqual(planTestRun(all, [], o), {
    files: ['interop/x.test.js', 'netns/up.test.js', 'unit/a.test.js', 'unit/b.test.js'].map((f) => path.join(root, f)),
    install: installDeps,
  });
  assert.deepEqual(planTestRun(all, ['unit'], o), { files: [path.join(root, 'unit/a.test.js'), path.join(root, 'unit/b.test.js')], install: null });
  assert.deepEqual(planTestRun(all, ['unit/a'], o).install, null);
  assert.deepEqual(planTestRun(all, ['netns/up'], o), { files: [path.join(root, 'netns/up.test.js')], install: installDeps });
  assert.deepEqual(planTestRun(all, ['unit', 'interop'], o).install, installDeps);
  assert.deepEqual(planTestRun(all, ['nothing'], o), { files: [], install: null });
  assert.deepEqual(planTestRun(all, [], { ...o, env: { OI_INSTALL_DEPS: '/x/fake.sh' } }).install, ['/x/fake.sh']);
});

test('the runner runs the install step before the first test file, and no test file when it fails', (t) => {
  const dir = tempDir(t);
  const tests = path.join(dir, 'test');
  const log = path.join(dir, 'order.log');
  for (const [sub, name] of [['unit', 'a'], ['netns', 'b']] as const) {
    mkdirSync(path.join(tests, sub), { recursive: true });
    writeFileSync(path.join(tests, sub, `${name}.test.js`),
      `require('node:fs').appendFileSync(${JSON.stringify(log)}, 'test ${sub}/${name}\\n'); require('node:test').test('${name}', () => {});\n`);
  }
  const install = executable(path.join(dir, 'install.sh'), `#!/bin/sh\necho install >> ${log}\nexit "\${FAKE_INSTALL_EXIT:-0}"\n`);
  // Without NODE_TEST_CONTEXT: the inner test runner must run as `npm test` runs it, not as a child of this one.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const runner = (args: string[], extra: Record<string, string> = {}) => spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'run-tests.mjs'), ...args], {
    encoding: 'utf8', env: { ...env, OI_TEST_DIR: tests, OI_INSTALL_DEPS: install, ...extra },
  });

  let r = runner([]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readFileSync(log, 'utf8'), 'install\ntest netns/b\ntest unit/a\n');

  rmSync(log);
  r = runner(['unit']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readFileSync(log, 'utf8'), 'test unit/a\n', 'unit tests alone need no packages');

  rmSync(log);
  r = runner([], { FAKE_INSTALL_EXIT: '2' });
  assert.equal(r.status, 2);
  assert.equal(readFileSync(log, 'utf8'), 'install\n', 'no test file runs after a failed install step');
});

/** install-deps.sh on a PATH where dpkg-query reports `missing` absent, `id -u` says `uid` and apt-get only logs. */
function installDeps(t: { after: (fn: () => void) => void }, missing: string[], uid: number, extraEnv: Record<string, string> = {}) {
  const dir = tempDir(t);
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  const log = path.join(dir, 'apt.log');
  writeFileSync(log, '');
  executable(path.join(bin, 'dpkg-query'), `#!/bin/sh\nfor p in ${missing.join(' ')}; do [ "$p" = "$3" ] && exit 1; done\nprintf 'install ok installed'\n`);
  executable(path.join(bin, 'id'), `#!/bin/sh\necho ${uid}\n`);
  // Like apt-get: chatter on stderr even when it works; FAKE_APT_FAIL makes the install fail.
  executable(path.join(bin, 'apt-get'), `#!/bin/sh\necho "apt-get $*" >> ${log}\necho "debconf: delaying package configuration, since apt-utils is not installed" >&2\n` +
    `[ "$1" = install ] && [ -n "$FAKE_APT_FAIL" ] && { echo "E: Unable to locate package $4" >&2; exit 100; }\nexit 0\n`);
  executable(path.join(bin, 'debconf-set-selections'), '#!/bin/sh\ncat > /dev/null\n');
  // libreswan is there already (its unpacking is not what these tests are about).
  const ls = path.join(dir, 'libreswan');
  mkdirSync(path.join(ls, 'usr', 'libexec', 'ipsec'), { recursive: true });
  executable(path.join(ls, 'usr', 'libexec', 'ipsec', 'pluto'), '');
  const libexec = path.join(dir, 'libexec-ipsec');
  mkdirSync(libexec);
  writeFileSync(path.join(libexec, 'addconn'), '');
  const r = spawnSync('bash', [path.join(repoRoot, 'scripts', 'install-deps.sh')], {
    encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, OI_LIBRESWAN_ROOT: ls, OI_IPSEC_LIBEXEC: libexec, ...extraEnv },
  });
  return { ...r, apt: readFileSync(log, 'utf8') };
}

test('install-deps.sh as root installs exactly the missing packages, saying so in one line (apt-get\'s output only when it fails)', (t) => {
  const r = installDeps(t, ['tshark', 'python3-scapy'], 0);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, 'install-deps: installing the Debian packages the test suite needs: tshark python3-scapy\n');
  assert.equal(r.apt, 'apt-get update -q\napt-get install -y -q tshark python3-scapy\n');
  // A failing apt-get: its own message shown after the line, and its exit code passed on.
  const failed = installDeps(t, ['tshark'], 0, { FAKE_APT_FAIL: '1' });
  assert.equal(failed.status, 100);
  assert.equal(failed.stderr, 'install-deps: installing the Debian packages the test suite needs: tshark\n' +
    'debconf: delaying package configuration, since apt-utils is not installed\nE: Unable to locate package tshark\n');
  const none = installDeps(t, [], 0);
  assert.equal(none.status, 0);
  assert.equal(none.stderr + none.apt, '', 'nothing missing: nothing said, apt-get not run');
});

test('install-deps.sh not as root: one line naming what is missing, exit 2, apt-get not run', (t) => {
  const r = installDeps(t, ['tcpdump', 'iputils-ping'], 1000);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, 'install-deps: the test suite needs iputils-ping tcpdump, not installed; run the tests as root (they install them first), or: sudo bash scripts/install-deps.sh\n');
  assert.equal(r.apt, '');
});
