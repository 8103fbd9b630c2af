import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, open, stat, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { cliPath, fixturesDir } from '../helpers/paths.js';
import { SEED_CONFIG, opensslCsr, openssl } from './operator-harness.js';

/** The commands as a user runs them: operator in the background, pki enroll / show by hand. */

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function startOperatorProcess(stateDir: string, config: string[], extra: string[] = []): Promise<{ child: ChildProcess; exited: Promise<number | null | string> }> {
  const log = await open(path.join(stateDir, `operator-${Date.now()}.log`), 'w');
  const child = spawn(process.execPath, [cliPath, 'operator', '--state-dir', stateDir, '--config', ...config, '--tick-ms', '200', ...extra], { stdio: ['ignore', log.fd, log.fd] });
  const exited = new Promise<number | null | string>((resolve) => child.on('exit', (code, sig) => { void log.close(); resolve(sig ?? code); }));
  // Ready once the CA bundle is stored (start-up on a loaded machine can take seconds).
  const bundleDir = path.join(stateDir, 'store', 'ca');
  for (let i = 0; i < 600; i++) {
    const names = await readdir(bundleDir).catch(() => [] as string[]);
    if (names.some((n) => n.startsWith('bundle.'))) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, exited };
}

test('operator + pki enroll --csr (openssl) + pki show, as commands', { timeout: 180_000 }, async () => {
  const stateDir = await mkdtemp(path.join(tmpdir(), 'oi-cli-'));
  const op = await startOperatorProcess(stateDir, SEED_CONFIG, ['--underlay-mtu', '1546']);
  try {
    const uuid = randomUUID();
    const csrFile = path.join(stateDir, 'req.pem');
    await writeFile(csrFile, opensslCsr(stateDir, uuid));
    const out = path.join(stateDir, 'keys');
    const ok = await run(['pki', 'enroll', '--node', 'worker0', '--state-dir', stateDir, '--csr', csrFile, '--system-id', uuid, '--out', out, '--timeout', '60']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`enrolled node worker0 \\(system-id ${uuid}\\)`));
    assert.equal(openssl(['verify', '-CAfile', path.join(out, 'ipsec-cacert.pem'), path.join(out, 'ipsec-cert.pem')]).trim(), `${path.join(out, 'ipsec-cert.pem')}: OK`);

    // A node of its own making (key made by the command, 0600).
    const own = await run(['pki', 'enroll', '--node', 'worker1', '--state-dir', stateDir, '--json']);
    assert.equal(own.code, 0, own.stderr);
    const ownJson = JSON.parse(own.stdout) as { key: string; cert: string };
    assert.equal((await stat(ownJson.key)).mode & 0o777, 0o600);

    // Refused: worker2 sends a CSR naming worker0 → exit 1 with the operator's reason.
    const steal = path.join(stateDir, 'steal.pem');
    await writeFile(steal, opensslCsr(stateDir, uuid));
    const refused = await run(['pki', 'enroll', '--node', 'worker2', '--state-dir', stateDir, '--csr', steal, '--timeout', '60']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`^overlay-ipsec: enrollment of node worker2 refused by the operator: CSR CN ${uuid} is the system-id of node worker0, not of this node \\(`));
    const garbage = path.join(stateDir, 'garbage.pem');
    await writeFile(garbage, 'not a csr at all');
    const g = await run(['pki', 'enroll', '--node', 'worker3', '--state-dir', stateDir, '--csr', garbage, '--timeout', '60']);
    assert.equal(g.code, 1);
    assert.match(g.stderr, /refused by the operator: not a PEM certificate request/);

    const show = await run(['pki', 'show', '--state-dir', stateDir, '--json']);
    assert.equal(show.code, 0, show.stderr);
    const j = JSON.parse(show.stdout) as { ca: Record<string, unknown>[]; nodes: Record<string, unknown>[]; csrs: { node: string; status: string; reason?: string }[] };
    assert.equal(j.ca.length, 1);
    for (const k of ['subject', 'serial', 'not_before', 'not_after', 'pem']) assert.ok(k in j.ca[0]!, k);
    // (±1: the command's clock and ours read a moment apart, possibly across a day boundary)
    assert.ok(Math.abs(Number(j.ca[0]!.days_left) - Math.floor((Date.parse(String(j.ca[0]!.not_after)) - Date.now()) / 86_400_000)) <= 1);
    assert.ok(Number(j.ca[0]!.days_left) >= 3650, 'ten years');
    assert.deepEqual(j.nodes.map((n) => n.node), ['worker0', 'worker1']);
    for (const k of ['node', 'system_id', 'subject', 'issuer', 'serial', 'not_before', 'not_after', 'pem']) assert.ok(k in j.nodes[0]!, k);
    assert.equal(j.nodes[0]!.system_id, uuid);
    assert.equal(j.nodes[0]!.subnet, '10.254.0.0/24');
    assert.equal(j.nodes[1]!.subnet, '10.254.1.0/24');
    assert.ok(/^\d{4}-\d\d-\d\dT/.test(String(j.nodes[0]!.not_after)));
    assert.deepEqual(j.csrs.filter((c) => c.status === 'denied').map((c) => c.node), ['worker2', 'worker3']);

    const text = await run(['pki', 'show', '--state-dir', stateDir]);
    assert.match(text.stdout, /CA \(rollover phase: steady\)/);
    assert.match(text.stdout, new RegExp(`worker0\\s+${uuid}`));
    assert.match(text.stdout, /worker2\s+denied\s+CSR CN/);

    // The clock hook: 4.5 years later the certificates have about half a year left.
    const later = await run(['pki', 'show', '--state-dir', stateDir, '--json'], { OI_CLOCK_OFFSET: '4.5y' });
    const lj = JSON.parse(later.stdout) as { nodes: { days_left: number }[] };
    assert.ok(lj.nodes[0]!.days_left > 150 && lj.nodes[0]!.days_left < 200, String(lj.nodes[0]!.days_left));

    // One operator per state directory.
    const second = await run(['operator', '--state-dir', stateDir, '--config', ...SEED_CONFIG]);
    assert.equal(second.code, 2);
    assert.match(second.stderr, new RegExp(`another operator \\(pid ${op.child.pid}\\) is running on`));

    op.child.kill('SIGTERM');
    assert.equal(await op.exited, 0);

    // Restarting with a key that cannot change at run time (the pod MTU) is refused, exit 2,
    // naming the file and key. (The IPsec mode may change: `config apply` switches it.)
    const mtuFile = path.join(stateDir, 'network-mtu-1300.yaml');
    await writeFile(mtuFile, (await readFile(SEED_CONFIG[1]!, 'utf8')).replace(/mtu: *1400/, 'mtu: 1300'));
    const r = await run(['operator', '--state-dir', stateDir, '--config', SEED_CONFIG[0]!, mtuFile]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`${mtuFile.replace(/[.]/g, '\\.')}: spec\\.defaultNetwork\\.ovnKubernetesConfig\\.mtu: 1300 differs from the installed 1400 and cannot change at run time`));
  } finally {
    if (op.child.exitCode === null && op.child.signalCode === null) op.child.kill('SIGKILL');
    await rm(stateDir, { recursive: true, force: true });
  }
});

test('pki enroll without an operator times out with exit 1; bad flags exit 2', { timeout: 60_000 }, async () => {
  const stateDir = await mkdtemp(path.join(tmpdir(), 'oi-cli-'));
  try {
    const none = await run(['pki', 'enroll', '--node', 'w', '--state-dir', stateDir]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no store there/);
    const { FsStore, storeDir } = await import('../../src/store/index.js');
    await (await FsStore.open(storeDir(stateDir))).close();
    const t = await run(['pki', 'enroll', '--node', 'w', '--state-dir', stateDir, '--timeout', '1', '--key-algorithm', 'ecdsa']);
    assert.equal(t.code, 1);
    assert.match(t.stderr, /no decision from the operator on node w's CSR within 1 s/);
    const bad = await run(['pki', 'enroll', '--node', 'Bad_Name', '--state-dir', stateDir]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /node name "Bad_Name" must be lowercase/);
    const noCfg = await run(['operator', '--state-dir', path.join(stateDir, 'fresh')]);
    assert.equal(noCfg.code, 2);
    assert.match(noCfg.stderr, /no network config stored yet: pass --config/);
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
});
