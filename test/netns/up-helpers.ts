import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { cliPath } from '../helpers/paths.js';
import { listNamespaces } from '../../src/cluster/topology-netns.js';
import type { ClusterState } from '../../src/cluster/state.js';
import { pidAlive } from '../../src/util/pid.js';

/**
 * Helpers for the `up` tests: the CLI run with a test prefix (never `oi`), TCP echo between pods,
 * and the end-of-test check that nothing is left.
 */

export function cli(prefix: string, args: string[], timeoutMs = 240_000): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [cliPath, ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, OI_NETNS_PREFIX: prefix, OI_STATE_DIR: '/nonexistent-use-state-dir' },
  });
}

export function inNs(ns: string, cmd: string[], timeoutMs = 20_000): SpawnSyncReturns<string> {
  return spawnSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8', timeout: timeoutMs });
}

export function readState(stateDir: string): ClusterState {
  return JSON.parse(readFileSync(path.join(stateDir, 'cluster.json'), 'utf8')) as ClusterState;
}

/** A TCP echo across the overlay: server in one pod, the client sends `bytes` and must read them back. */
export async function tcpEcho(serverNs: string, serverIp: string, clientNs: string, bytes: number, port = 7007): Promise<void> {
  const server = spawn('ip', ['netns', 'exec', serverNs, process.execPath, '-e', `
    const s = require('node:net').createServer((c) => c.pipe(c));
    s.listen(${port}, '${serverIp}', () => process.stdout.write('listening\\n'));
    setTimeout(() => process.exit(3), 30000);
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      server.stdout!.once('data', () => resolve());
      server.once('exit', (c) => reject(new Error(`echo server exited ${c}`)));
    });
    const client = inNs(clientNs, [process.execPath, '-e', `
      const data = require('node:crypto').randomBytes(${bytes});
      const got = [];
      let n = 0;
      const c = require('node:net').connect(${port}, '${serverIp}', () => c.write(data));
      c.on('data', (d) => { got.push(d); n += d.length; if (n >= data.length) { const ok = Buffer.concat(got).equals(data); process.stdout.write(ok ? 'echo-ok' : 'echo-mismatch'); process.exit(ok ? 0 : 1); } });
      c.on('error', (e) => { process.stdout.write('error ' + e.message); process.exit(2); });
      setTimeout(() => { process.stdout.write('timeout after ' + n); process.exit(4); }, 20000);
    `], 30_000);
    assert.equal(client.stdout, 'echo-ok', `TCP ${clientNs} → ${serverIp}: ${client.stdout} ${client.stderr}`);
  } finally {
    if (server.exitCode === null) {
      server.kill('SIGTERM');
      await once(server, 'exit');
    }
  }
}

/** Nothing left: no namespace with the prefix, none of the recorded processes alive. */
export async function assertNothingLeft(prefix: string, pids: readonly number[]): Promise<void> {
  assert.deepEqual(await listNamespaces(prefix), [], `namespaces with prefix ${prefix} remain`);
  const deadline = Date.now() + 5000;
  while (pids.some(pidAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(pids.filter(pidAlive), [], 'processes of the cluster still running');
}
