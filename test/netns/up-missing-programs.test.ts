import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { teardownTopology } from '../../src/cluster/topology-netns.js';
import { findProgram } from '../../src/util/programs.js';
import { cliPath } from '../helpers/paths.js';
import { assertNothingLeft, readState } from './up-helpers.js';

// `up` on a PATH where tcpdump and ping cannot be found (ip and sysctl can): with installing
// forbidden (OI_NO_INSTALL=1) it stops with one line and exit 2 before building anything; allowed,
// it says in one line that it installs them, hands exactly their packages to the installer
// (OI_PACKAGE_INSTALLER: a stand-in that links the real programs into that PATH — nothing is
// installed on the machine), and the cluster comes up, checked by ping and tcpdump.

const PREFIX = 'oit-pkg';

function setup(t: { after: (fn: () => Promise<void> | void) => void }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'oit-pkg-'));
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  for (const p of ['ip', 'sysctl']) symlinkSync(findProgram(p)!, path.join(bin, p));
  t.after(async () => {
    await teardownTopology(PREFIX);
    rmSync(dir, { recursive: true, force: true });
  });
  const up = (args: string[], env: Record<string, string>) => spawnSync(process.execPath, [cliPath, ...args, '--state-dir', path.join(dir, 'state')], {
    encoding: 'utf8', timeout: 240_000, env: { ...process.env, PATH: bin, OI_NETNS_PREFIX: PREFIX, ...env },
  });
  return { dir, bin, up };
}

test('up without tcpdump and ping, installing forbidden: one line, exit 2, nothing built', { timeout: 60_000 }, async (t) => {
  const { dir, up } = setup(t);
  const r = up(['up', '--detach'], { OI_NO_INSTALL: '1' });
  assert.equal(r.status, 2, r.stdout + r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'overlay-ipsec: overlay-ipsec up needs ping (package iputils-ping) and tcpdump (package tcpdump), not found in PATH; install them: apt-get install -y iputils-ping tcpdump (OI_NO_INSTALL=1 keeps overlay-ipsec up from installing them)\n');
  await assertNothingLeft(PREFIX, []);
  assert.equal(existsSync(path.join(dir, 'state')), false, 'no state directory made');
});

test('up without tcpdump and ping, as root: installs exactly their packages (one line), then the cluster works', { timeout: 300_000 }, async (t) => {
  const { dir, bin, up } = setup(t);
  const log = path.join(dir, 'installer.log');
  const installer = path.join(dir, 'installer');
  const links = { tcpdump: findProgram('tcpdump')!, ping: findProgram('ping')! };
  writeFileSync(installer, `#!${process.execPath}
const fs = require('node:fs');
fs.appendFileSync(${JSON.stringify(log)}, process.argv.slice(2).join(' ') + '\\n');
for (const [name, real] of Object.entries(${JSON.stringify(links)})) fs.symlinkSync(real, ${JSON.stringify(bin)} + '/' + name);
`);
  chmodSync(installer, 0o755);
  const r = up(['up', '--detach', '--masters', '1', '--workers', '1', '--pods-per-node', '1'], { OI_PACKAGE_INSTALLER: installer });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(readFileSync(log, 'utf8'), 'iputils-ping tcpdump\n', 'the installer got exactly the missing packages, once');
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], 'overlay-ipsec up: installing the Debian packages iputils-ping tcpdump (for ping, tcpdump, not found in PATH)');
  assert.equal(lines.filter((l) => l.includes('installing')).length, 1);
  assert.match(r.stdout, /pod-to-pod: 2\/2 pairs answered/);
  assert.match(r.stdout, /underlay: ESP [1-9]\d*, IKE \d+, cleartext Geneve 0, other \d+ — encrypted/);
  const pids = readState(path.join(dir, 'state')).daemons.map((d) => d.pid);
  const down = up(['down'], {});
  assert.equal(down.status, 0, down.stderr);
  await assertNothingLeft(PREFIX, pids);
});
