import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cliPath } from '../helpers/paths.js';
import { parseAgentRequest } from '../../src/agent/control.js';

function cli(args: string[]) {
  return spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', timeout: 15_000 });
}

test('agent: a bad node name or metrics port is bad usage (exit 2, one line)', () => {
  const r = cli(['agent', '--node', 'Bad_Name', '--state-dir', '/nonexistent']);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^overlay-ipsec: --node: node name "Bad_Name" must be/);
  const p = cli(['agent', '--node', 'master0', '--metrics-port', 'http', '--state-dir', '/nonexistent']);
  assert.equal(p.status, 2);
  assert.match(p.stderr, /--metrics-port: "http" is not a port number/);
});

test('tunnels show / ipsec status --node without a running agent: exit 1 naming the socket', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'oit-ag-cli-'));
  try {
    for (const args of [['tunnels', 'show'], ['ipsec', 'status']]) {
      const r = cli([...args, '--node', 'master0', '--state-dir', dir]);
      assert.equal(r.status, 1, r.stderr);
      assert.ok(r.stderr.includes(path.join(dir, 'nodes', 'master0', 'agent.sock')), r.stderr);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('control requests: known commands parse, anything else is refused with a reason', () => {
  assert.deepEqual(parseAgentRequest('{"cmd":"tunnels/show"}'), { cmd: 'tunnels/show' });
  assert.deepEqual(parseAgentRequest('{"cmd":"rekey","conn":"ovn-ab2a7c-0","child":"ovn-ab2a7c-0-in-1"}'), { cmd: 'rekey', conn: 'ovn-ab2a7c-0', child: 'ovn-ab2a7c-0-in-1' });
  for (const bad of ['', 'nope', '[]', '{"cmd":1}', '{"cmd":"rekey"}', '{"cmd":"terminate","conn":"x","child":3}', '{"cmd":"shutdown"}']) {
    assert.equal(typeof parseAgentRequest(bad), 'string', bad);
  }
});
