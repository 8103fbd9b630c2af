import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from '../helpers/paths.js';

// The node runner refuses a bad config before touching the system: one line naming the file and
// the key, exit 2 (CONTRACTS.md).

const runner = path.join(repoRoot, 'dist', 'test', 'helpers', 'overlay-node-runner.js');

function run(config: unknown): { code: number | null; stderr: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'oit-cl-runner-'));
  try {
    const file = path.join(dir, 'node.json');
    writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config));
    const r = spawnSync(process.execPath, [runner, '--config', file], { encoding: 'utf8', timeout: 20_000 });
    return { code: r.status, stderr: r.stderr.replace(dir, '<dir>') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const good = {
  local: { node: 'master0', systemId: 'ab2a7c00-0000-4000-8000-000000000000', underlay: '192.168.7.21', subnet: '10.254.0.0/24', vni: 1 },
  peers: [{ node: 'worker0', systemId: '04e0df00-0000-4000-8000-000000000000', underlay: '192.168.7.11', subnet: '10.254.3.0/24', vni: 4 }],
};

test('node runner: bad configs exit 2 with file and key named', () => {
  const cases: Array<[unknown, RegExp]> = [
    ['{not json', /<dir>\/node\.json: \(top level\): not JSON/],
    [{ ...good, local: { ...good.local, vni: 0 } }, /<dir>\/node\.json: local\.vni: /],
    [{ ...good, peers: [{ ...good.peers[0], underlay: '192.168.7' }] }, /<dir>\/node\.json: peers\.0\.underlay: not an IPv4 address/],
    [{ ...good, tunName: 'x'.repeat(16) }, /<dir>\/node\.json: tunName: a Linux interface name/],
    [{ ...good, extra: 1 }, /<dir>\/node\.json: /],
  ];
  for (const [cfg, re] of cases) {
    const r = run(cfg);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
  const usage = spawnSync(process.execPath, [runner], { encoding: 'utf8' });
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /usage: node-runner --config FILE/);
});
