import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, chmodSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cliPath } from '../helpers/paths.js';
import { NetnsLab, waitFor } from '../helpers/netns.js';

// The command as a user meets it: bad config and missing privilege give one clear line and
// exit 2; a daemon that is not there gives exit 1; --help explains every flag.

const dir = mkdtempSync(path.join(tmpdir(), 'oit-cli-'));
chmodSync(dir, 0o755);
after(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[], asNobody = false): { code: number | null; stdout: string; stderr: string } {
  const cmd = asNobody
    ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cliPath, ...args]
    : [process.execPath, cliPath, ...args];
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const GOOD = `connections:
  site:
    local_addrs: [198.18.0.1]
    remote_addrs: [198.18.0.2]
    manual:
      mode: tunnel
      local_ts: [10.254.1.0/24]
      remote_ts: [10.254.2.0/24]
      spi_out: 0x00001001
      spi_in: 0x00002002
      key_out: "0x${'ab'.repeat(36)}"
      key_in: "0x${'cd'.repeat(36)}"
`;

test('bad config: one line naming file, key and problem; exit 2', () => {
  const f = path.join(dir, 'site.yaml');
  writeFileSync(f, GOOD.replace('      spi_in:', '      spi_inn: 0x1\n      spi_in:'));
  const r = cli(['ipsecd', '--config', f]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, `overlay-ipsec: ${f}: connections.site.manual.spi_inn: unknown key (remove it or check its spelling against CONTRACTS.md)\n`);
  writeFileSync(f, GOOD.replace(`"0x${'ab'.repeat(36)}"`, `"0x${'ab'.repeat(35)}"`));
  const k = cli(['ipsecd', '--config', f]);
  assert.equal(k.code, 2);
  assert.match(k.stderr, /^overlay-ipsec: .*site\.yaml: connections\.site\.manual\.key_out: expected 36 bytes \(AES-256 key ‖ 4-byte salt\), got 35 .*\n$/);
  const missing = cli(['ipsecd', '--config', path.join(dir, 'nope.yaml')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nope\.yaml: \(top level\): cannot read the config file: no such file/);
});

test('not root: clear message, exit 2', () => {
  const f = path.join(dir, 'ok.yaml');
  writeFileSync(f, GOOD);
  chmodSync(f, 0o644);
  const r = cli(['ipsecd', '--config', f], true);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr, 'overlay-ipsec: overlay-ipsec ipsecd needs root (CAP_NET_ADMIN); run it as root, e.g. with sudo\n');
});

test('ipsec status without a daemon: exit 1, says which socket and what to run', () => {
  const sock = path.join(dir, 'none.sock');
  const r = cli(['ipsec', 'status', '--control', sock, '--json']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `overlay-ipsec: control socket ${sock} does not exist; is \`overlay-ipsec ipsecd --control ${sock}\` running?\n`);
});

test('--help explains every flag', () => {
  const d = cli(['ipsecd', '--help']);
  assert.equal(d.code, 0);
  for (const flag of ['--config <file>', '--keylog <dir>', '--control <socket>', '--log <file>', '--log-level <level>']) assert.ok(d.stdout.includes(flag), flag);
  const s = cli(['ipsec', 'status', '--help']);
  assert.equal(s.code, 0);
  for (const flag of ['--control <socket>', '--json']) assert.ok(s.stdout.includes(flag), flag);
  const i = cli(['ipsec', '--help']);
  for (const cmd of ['status', 'initiate', 'rekey', 'terminate']) assert.ok(i.stdout.includes(cmd), cmd);
});

test('a start that fails (UDP 4500 taken) exits 1 and leaves no TUN or rules behind', async () => {
  const lab = new NetnsLab('oit-esp');
  try {
    const ns = lab.addNs('busy');
    lab.exec(ns, ['ip', 'addr', 'add', '198.18.0.1/32', 'dev', 'lo']);
    const holder = lab.spawn(ns, ['python3', '-c', 'import socket,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("198.18.0.1", 4500)); print("bound", flush=True); time.sleep(60)']);
    let out = '';
    holder.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
    await waitFor(() => out.includes('bound'), 'a socket on 198.18.0.1:4500');
    const f = path.join(dir, 'busy.yaml');
    writeFileSync(f, GOOD);
    const r = lab.exec(ns, [process.execPath, cliPath, 'ipsecd', '--config', f], { check: false });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^overlay-ipsec: cannot bind UDP 198\.18\.0\.1:4500: the port is in use/);
    assert.notEqual(lab.exec(ns, ['ip', 'link', 'show', 'oi0'], { check: false }).code, 0, 'TUN removed');
    assert.doesNotMatch(lab.exec(ns, ['ip', 'rule']).stdout, /lookup 2200|sport 4500/);
  } finally {
    await lab.cleanup();
  }
});

test('Ctrl-C (SIGINT) stops the daemon cleanly too: exit 0, no TUN, no rules, no socket', async () => {
  const lab = new NetnsLab('oit-esp');
  try {
    const ns = lab.addNs('int');
    lab.exec(ns, ['ip', 'addr', 'add', '198.18.0.1/32', 'dev', 'lo']);
    lab.exec(ns, ['ip', 'addr', 'add', '10.254.1.1/32', 'dev', 'lo']);
    const f = path.join(dir, 'int.yaml');
    const sock = path.join(dir, 'int.sock');
    writeFileSync(f, GOOD);
    const p = lab.spawn(ns, [process.execPath, cliPath, 'ipsecd', '--config', f, '--control', sock]);
    const exit = new Promise<number | null>((r) => p.on('exit', (c) => r(c)));
    await waitFor(() => existsSync(sock), 'control socket');
    assert.match(lab.exec(ns, ['ip', 'rule']).stdout, /to 10\.254\.2\.0\/24 lookup 2200/);
    assert.match(lab.exec(ns, ['ip', 'route', 'show', 'table', '2200']).stdout, /10\.254\.2\.0\/24 dev oi0 .*src 10\.254\.1\.1/);
    p.kill('SIGINT');
    assert.equal(await exit, 0);
    assert.equal(existsSync(sock), false);
    assert.doesNotMatch(lab.exec(ns, ['ip', 'rule']).stdout, /lookup 2200|sport 4500/);
    assert.notEqual(lab.exec(ns, ['ip', 'link', 'show', 'oi0'], { check: false }).code, 0);
  } finally {
    await lab.cleanup();
  }
});
