import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { cliPath, repoRoot } from '../helpers/paths.js';

// The store options mean the same on every command, and a bad value is exit 2 with the option
// (or the file and key) named — before anything is started or any connection is tried.

function run(args: string[]): { code: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stderr: r.stderr };
}

test('bad store options on operator, agent, pki and config apply: exit 2 naming the option', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'oi-storeopt-'));
  try {
    const cfg = path.join(dir, 'store.yaml');
    await writeFile(cfg, 'endpoints: [127.0.0.1:2379]\ntls: { ca: missing-ca.pem }\n');
    const typo = path.join(dir, 'typo.yaml');
    await writeFile(typo, 'endpoints: [127.0.0.1:2379]\nclustr: prod\n');
    const cases: [string[], RegExp][] = [
      [['--store', 'redis://h:1'], /--store: "redis:\/\/h:1" is not etcd:\/\/HOST:PORT/],
      [['--store', 'etcd://h'], /--store: endpoint "h" is not HOST:PORT/],
      [['--store', 'etcd://h:1', '--etcd-cert', 'c.pem'], /--etcd-cert: needs --etcd-key/],
      [['--store', 'etcd://h:1', '--etcd-ca', path.join(dir, 'nope.pem')], /--etcd-ca .*nope\.pem: cannot read it \(ENOENT\)/],
      [['--store', 'etcd://h:1', '--store-cluster', 'a/b'], /--store: cluster name "a\/b"/],
      [['--etcd-ca', 'x.pem'], /--etcd-ca: only with --store etcd/],
      [['--store', 'etcd://h:1', '--store-config', cfg], /--store and --store-config: give one/],
      [['--store-config', path.join(dir, 'none.yaml')], /none\.yaml: cannot read it \(ENOENT\)/],
      [['--store-config', cfg], /store\.yaml: tls\.ca .*missing-ca\.pem: cannot read it/],
      [['--store-config', typo], /typo\.yaml: unknown key "clustr"/],
    ];
    const commands = [
      ['operator', '--state-dir', dir],
      ['agent', '--node', 'w0', '--state-dir', dir],
      ['pki', 'show', '--state-dir', dir],
      ['pki', 'enroll', '--node', 'w0', '--state-dir', dir],
      ['config', 'apply', '--state-dir', dir, path.join(repoRoot, 'examples', 'install-config.yaml')],
    ];
    // Every case on the operator; on the other commands (the same module reads them) a few.
    for (const cmd of commands)
      for (const [args, msg] of cmd[0] === 'operator' ? cases : [cases[0]!, cases[3]!, cases[8]!]) {
        const r = run([...cmd, ...args]);
        assert.equal(r.code, 2, `${cmd.join(' ')} ${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, msg, `${cmd.join(' ')} ${args.join(' ')}`);
      }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
