import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findProgram, MissingPrograms, missingPrograms, packagesFor, requirePrograms } from '../../src/util/programs.js';
import { decideInstall, ensurePrograms, PackageInstallFailed, commandInstaller } from '../../src/util/ensure-programs.js';
import { upPrograms } from '../../src/cluster/up.js';

// The check before the first exec of an external program (util/programs.ts) and `up`'s install
// decision (util/ensure-programs.ts), on PATHs made of temporary directories: nothing real is
// installed.

/** A directory holding executable stand-ins for `names`. */
function binDir(t: { after: (fn: () => void) => void }, names: string[]): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'oi-programs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const n of names) addProgram(dir, n);
  return dir;
}

function addProgram(dir: string, name: string): void {
  writeFileSync(path.join(dir, name), '#!/bin/sh\nexit 0\n');
  chmodSync(path.join(dir, name), 0o755);
}

test('findProgram searches PATH in order for an executable file, as execvp does', (t) => {
  const a = binDir(t, ['ip']);
  const b = binDir(t, ['ip', 'ping']);
  writeFileSync(path.join(a, 'ping'), 'not executable');
  assert.equal(findProgram('ip', `${a}:${b}`), path.join(a, 'ip'));
  assert.equal(findProgram('ping', `${a}:${b}`), path.join(b, 'ping'), 'a non-executable file is passed over');
  assert.equal(findProgram('tcpdump', `${a}::${b}`), undefined);
  assert.equal(findProgram('ip', ''), undefined);
  assert.deepEqual(missingPrograms(['ip', 'ping', 'tcpdump', 'ping'], a), ['ping', 'tcpdump']);
  assert.deepEqual(packagesFor(['ip', 'ss', 'ping', 'tcpdump']), ['iproute2', 'iputils-ping', 'tcpdump']);
});

test('requirePrograms: one line naming each missing program and its package, exit 2', (t) => {
  const dir = binDir(t, ['ip', 'sysctl']);
  assert.doesNotThrow(() => requirePrograms(['ip', 'sysctl'], 'overlay-ipsec up', dir));
  assert.throws(() => requirePrograms(['ip', 'tcpdump', 'ping'], 'overlay-ipsec verify', dir), (e: unknown) => {
    assert.ok(e instanceof MissingPrograms);
    assert.equal(e.exitCode, 2);
    assert.equal(e.message, 'overlay-ipsec verify needs tcpdump (package tcpdump) and ping (package iputils-ping), not found in PATH; install them: apt-get install -y tcpdump iputils-ping');
    return true;
  });
});

test('upPrograms: ping and tcpdump only when there are pods on two nodes to check', () => {
  assert.deepEqual(upPrograms({ masters: 3, workers: 2, podsPerNode: 2 }), ['ip', 'sysctl', 'ping', 'tcpdump']);
  assert.deepEqual(upPrograms({ masters: 3, workers: 2, podsPerNode: 2, verifySeconds: 0 }), ['ip', 'sysctl', 'ping']);
  assert.deepEqual(upPrograms({ masters: 1, workers: 0, podsPerNode: 2 }), ['ip', 'sysctl']);
  assert.deepEqual(upPrograms({ masters: 2, workers: 0, podsPerNode: 0 }), ['ip', 'sysctl']);
});

test('decideInstall: install as root; refuse when not root, when OI_NO_INSTALL=1, without an installer', (t) => {
  const dir = binDir(t, ['ip', 'sysctl']);
  const base = { searchPath: dir, uid: 0, noInstall: false, canInstall: true };
  const programs = ['ip', 'sysctl', 'ping', 'tcpdump'] as const;
  assert.deepEqual(decideInstall(['ip', 'sysctl'], { ...base, uid: 1000 }), { kind: 'present' });
  assert.deepEqual(decideInstall(programs, base), { kind: 'install', programs: ['ping', 'tcpdump'], packages: ['iputils-ping', 'tcpdump'] });
  assert.deepEqual(decideInstall(programs, { ...base, uid: 1000 }), { kind: 'refuse', programs: ['ping', 'tcpdump'], packages: ['iputils-ping', 'tcpdump'], why: 'not-root' });
  assert.deepEqual(decideInstall(programs, { ...base, noInstall: true }), { kind: 'refuse', programs: ['ping', 'tcpdump'], packages: ['iputils-ping', 'tcpdump'], why: 'forbidden' });
  assert.deepEqual(decideInstall(programs, { ...base, canInstall: false }), { kind: 'refuse', programs: ['ping', 'tcpdump'], packages: ['iputils-ping', 'tcpdump'], why: 'no-installer' });
});

test('ensurePrograms as root: one line, then the installer gets exactly the missing packages', async (t) => {
  const dir = binDir(t, ['ip', 'sysctl']);
  const said: string[] = [];
  const asked: string[][] = [];
  const installed = await ensurePrograms(['ip', 'sysctl', 'tcpdump', 'ping'], {
    what: 'overlay-ipsec up', uid: 0, env: { PATH: dir }, say: (l) => said.push(l),
    install: async (pkgs) => {
      asked.push([...pkgs]);
      addProgram(dir, 'tcpdump');
      addProgram(dir, 'ping');
    },
  });
  assert.deepEqual(asked, [['tcpdump', 'iputils-ping']]);
  assert.deepEqual(installed, ['tcpdump', 'iputils-ping']);
  assert.deepEqual(said, ['overlay-ipsec up: installing the Debian packages tcpdump iputils-ping (for tcpdump, ping, not found in PATH)']);
  // Present now: nothing said, nothing installed.
  assert.deepEqual(await ensurePrograms(['tcpdump', 'ping'], { what: 'x', uid: 0, env: { PATH: dir }, say: (l) => said.push(l), install: async () => assert.fail('installed again') }), []);
  assert.equal(said.length, 1);
});

test('ensurePrograms refuses with the install command, and fails when the installer did not help', async (t) => {
  const dir = binDir(t, ['ip']);
  const never = async () => assert.fail('must not install');
  const say = () => assert.fail('must say nothing');
  await assert.rejects(ensurePrograms(['ip', 'ping'], { what: 'overlay-ipsec up', uid: 1000, env: { PATH: dir }, say, install: never }), (e: unknown) => {
    assert.ok(e instanceof MissingPrograms && e.exitCode === 2);
    assert.equal(e.message, 'overlay-ipsec up needs ping (package iputils-ping), not found in PATH; install it: sudo apt-get install -y iputils-ping (run as root, overlay-ipsec up installs it itself)');
    return true;
  });
  await assert.rejects(ensurePrograms(['ip', 'ping'], { what: 'overlay-ipsec up', uid: 0, env: { PATH: dir, OI_NO_INSTALL: '1' }, say, install: never }),
    /needs ping \(package iputils-ping\), not found in PATH; install it: apt-get install -y iputils-ping \(OI_NO_INSTALL=1 keeps overlay-ipsec up from installing it\)$/);
  // No apt-get on this PATH and no installer given: the system's own package manager.
  await assert.rejects(ensurePrograms(['ip', 'ping'], { what: 'overlay-ipsec up', uid: 0, env: { PATH: dir }, say: () => {} }),
    /install it with this system's package manager \(Debian packages: iputils-ping\)$/);
  await assert.rejects(ensurePrograms(['ip', 'ping'], { what: 'overlay-ipsec up', uid: 0, env: { PATH: dir }, say: () => {}, install: async () => {} }), (e: unknown) => {
    assert.ok(e instanceof PackageInstallFailed && e.exitCode === 2);
    assert.match(e.message, /installed iputils-ping, but ping still cannot be found in PATH/);
    return true;
  });
});

test('commandInstaller: the command gets the package names; its failure names it and its last line', async (t) => {
  const dir = binDir(t, []);
  const log = path.join(dir, 'log');
  const script = path.join(dir, 'installer');
  writeFileSync(script, `#!/bin/sh\necho "$@" >> ${log}\n[ "$1" = bad ] && { echo "E: Unable to locate package bad" >&2; exit 100; }\nexit 0\n`);
  chmodSync(script, 0o755);
  await commandInstaller([script])(['tcpdump', 'iputils-ping']);
  await assert.rejects(commandInstaller([script])(['bad']), /installer bad failed \(exit 100\): E: Unable to locate package bad$/);
  assert.equal(spawnSync('cat', [log], { encoding: 'utf8' }).stdout, 'tcpdump iputils-ping\nbad\n');
});
