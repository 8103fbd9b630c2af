import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cliPath } from '../helpers/paths.js';
import { listNamespaces, teardownTopology } from '../../src/cluster/topology-netns.js';
import { assertNothingLeft, cli, inNs, readState } from './up-helpers.js';
import { pidAlive } from '../../src/util/pid.js';

// A foreground `up` (no --detach): Ctrl-C removes everything. Then a crash — `up` and every
// daemon killed with SIGKILL, namespaces left behind — and a second `up`, which cleans up first and
// comes up. Small clusters (2 masters + 1 worker, 1 pod each), plain Geneve to keep it quick.

const PREFIX = 'oit-up2';
const SIZE = ['--no-ipsec', '--masters', '2', '--workers', '1', '--pods-per-node', '1'];

function foregroundUp(stateDir: string): { child: ChildProcess; output: () => string; running: Promise<void> } {
  const child = spawn(process.execPath, [cliPath, 'up', ...SIZE, '--state-dir', stateDir], {
    env: { ...process.env, OI_NETNS_PREFIX: PREFIX },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const running = new Promise<void>((resolve, reject) => {
    const t = setInterval(() => {
      if (out.includes('Ctrl-C removes the cluster')) {
        clearInterval(t);
        resolve();
      }
    }, 100);
    child.once('exit', (code) => {
      clearInterval(t);
      reject(new Error(`up exited (${code}) before it was running:\n${out}`));
    });
  });
  return { child, output: () => out, running };
}

test('Ctrl-C on a foreground up removes every namespace and process', { timeout: 180_000 }, async (t) => {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'oit-up2-'));
  t.after(async () => {
    await teardownTopology(PREFIX);
    rmSync(stateDir, { recursive: true, force: true });
  });
  const up = foregroundUp(stateDir);
  await up.running;
  const state = readState(stateDir);
  assert.equal(state.supervisorPid, up.child.pid);
  const pids = state.daemons.map((d) => d.pid);
  assert.equal((await listNamespaces(PREFIX)).length, 7);

  const exited = once(up.child, 'exit');
  up.child.kill('SIGINT');
  const [code] = await exited;
  assert.equal(code, 130, up.output());
  assert.match(up.output(), /SIGINT: removing the cluster…\nremoved 7 namespaces/);
  await assertNothingLeft(PREFIX, pids);
  assert.deepEqual(readdirSync(stateDir), []);
});

test('after a crash (SIGKILL, namespaces left) a second up cleans up first and comes up', { timeout: 240_000 }, async (t) => {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'oit-up2-'));
  t.after(async () => {
    await teardownTopology(PREFIX);
    rmSync(stateDir, { recursive: true, force: true });
  });
  const first = foregroundUp(stateDir);
  await first.running;
  const crashed = readState(stateDir);
  const oldPids = crashed.daemons.map((d) => d.pid);
  // The crash: the supervisor and every daemon die at once, nothing cleans up.
  const exited = once(first.child, 'exit');
  first.child.kill('SIGKILL');
  await exited;
  for (const pid of oldPids) process.kill(pid, 'SIGKILL');
  const deadline = Date.now() + 5000;
  while (oldPids.some(pidAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal((await listNamespaces(PREFIX)).length, 7, 'the crash left the namespaces');

  const second = cli(PREFIX, ['up', ...SIZE, '--detach', '--state-dir', stateDir]);
  assert.equal(second.status, 0, `${second.stdout}\n${second.stderr}`);
  assert.match(second.stdout, /✓ cleaning up any earlier run — removed 7 namespaces and the old record/);
  assert.match(second.stdout, /pod-to-pod: 6\/6 pairs answered/);
  const state = readState(stateDir);
  const pids = state.daemons.map((d) => d.pid);
  assert.ok(pids.every(pidAlive) && pids.every((p) => !oldPids.includes(p)), 'fresh daemons');
  const ping = inNs(`${PREFIX}-worker0-pod0`, ['ping', '-c', '1', '-W', '2', '10.254.0.2']);
  assert.equal(ping.status, 0, ping.stdout);

  const down = cli(PREFIX, ['down', '--state-dir', stateDir]);
  assert.equal(down.status, 0, down.stderr);
  await assertNothingLeft(PREFIX, [...pids, ...oldPids]);
  assert.deepEqual(readdirSync(stateDir), []);
});
