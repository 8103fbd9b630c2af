import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { teardownTopology } from '../../src/cluster/topology-netns.js';
import { cliPath } from '../helpers/paths.js';
import { assertNothingLeft, cli, inNs, readState } from './up-helpers.js';
import { pidAlive } from '../../src/util/pid.js';
import { waitFor } from '../helpers/netns.js';

// `up --store etcd`: 5 nodes (3 masters, 2 workers) on 3 etcd members in their own namespaces,
// TLS and per-node etcd users. Pods on every pair of nodes talk; verify sees only ESP/IKE between
// nodes and the nodes' etcd traffic as TLS. etcdctl (an independent client) with one node's
// credentials cannot write another node's registration or CSR, and without credentials nothing
// registers. A node joins (register, CSR, certificate) while the etcd leader is killed with
// SIGKILL, and still gets its certificate. `down` removes the members, their namespaces and data.

const PREFIX = 'oit-etcd';
const P = '/overlay-ipsec/default';

interface JoinDoc { endpoints: string[]; prefix: string; tls: { caPem: string; certPem: string; keyPem: string }; join: { user: string; node: string; expires_at: string } }

/** etcdctl inside `ns` with the credentials of a join file (PEMs written to `dir`), or none. */
function etcdctl(ns: string, dir: string, join: JoinDoc | undefined, args: string[], endpoints: string[]) {
  const flags = [`--endpoints=${endpoints.map((e) => `https://${e}`).join(',')}`, '--dial-timeout=3s', '--command-timeout=5s'];
  if (join) {
    const f = (n: string, t: string) => {
      const p = path.join(dir, `${join.join.node}-${n}`);
      writeFileSync(p, t, { mode: 0o600 });
      return p;
    };
    flags.push(`--cacert=${f('ca.pem', join.tls.caPem)}`, `--cert=${f('cert.pem', join.tls.certPem)}`, `--key=${f('key.pem', join.tls.keyPem)}`);
  } else {
    flags.push(`--cacert=${path.join(dir, 'ca-only.pem')}`);
  }
  return inNs(ns, ['env', 'ETCDCTL_API=3', 'etcdctl', ...flags, ...args], 30_000);
}

test('up --store etcd: 5 nodes on 3 members, per-node identities, a join through a leader kill, down removes etcd', { timeout: 600_000 }, async (t) => {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'oit-etcd-'));
  const work = mkdtempSync(path.join(tmpdir(), 'oit-etcd-work-'));
  t.after(async () => {
    cli(PREFIX, ['down', '--state-dir', stateDir]);
    await teardownTopology(PREFIX);
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  const up = cli(PREFIX, ['up', '--store', 'etcd', '--detach', '--pods-per-node', '1', '--state-dir', stateDir], 420_000);
  assert.equal(up.status, 0, `up failed:\n${up.stdout}\n${up.stderr}`);
  assert.match(up.stdout, /starting etcd: 3 members with TLS and auth/);
  assert.match(up.stdout, /pod-to-pod: 20\/20 pairs answered/);
  assert.match(up.stdout, /underlay: ESP \d+, IKE \d+, cleartext Geneve 0, other 0 — encrypted/);
  assert.match(up.stdout, /control plane: TLS to etcd [1-9]\d*, not yet judged \d+, cleartext 0/);

  const state = readState(stateDir);
  assert.deepEqual(state.etcd!.members.map((m) => `${m.netns} ${m.ip}`), [`${PREFIX}-etcd0 192.168.7.241`, `${PREFIX}-etcd1 192.168.7.242`, `${PREFIX}-etcd2 192.168.7.243`]);
  const endpoints = state.etcd!.endpoints;
  const members = state.daemons.filter((d) => d.role === 'etcd');
  assert.equal(members.length, 3);
  const pids = state.daemons.map((d) => d.pid);
  assert.ok(pids.every(pidAlive));

  // Each node's own state directory holds its join file (0600, no IPsec key) and what its agent made.
  const joins = new Map<string, JoinDoc>();
  for (const n of state.nodes) {
    const host = path.join(stateDir, 'hosts', n.name);
    assert.equal(statSync(host).mode & 0o777, 0o700);
    const jf = path.join(host, 'join.json');
    assert.equal(statSync(jf).mode & 0o777, 0o600);
    const text = readFileSync(jf, 'utf8');
    const doc = JSON.parse(text) as JoinDoc;
    // One private key: the etcd client key. The node's IPsec key is made by its agent, beside it.
    assert.equal(text.match(/BEGIN [A-Z ]*PRIVATE KEY/g)?.length, 1);
    assert.notEqual(doc.tls.keyPem.trim(), readFileSync(path.join(host, 'nodes', n.name, 'ipsec-privkey.pem'), 'utf8').trim());
    assert.equal(doc.join.user, `oi/default/node/${n.name}`);
    joins.set(n.name, doc);
    assert.ok(existsSync(path.join(host, 'nodes', n.name, 'ipsec-cert.pem')), `${n.name} enrolled into its own directory`);
  }
  // The operator's credentials are the operator's, not root.
  const opCreds = JSON.parse(readFileSync(path.join(stateDir, 'operator-etcd', 'credentials.json'), 'utf8')) as JoinDoc;
  assert.equal(opCreds.join.user, 'oi/default/operator');

  // verify: node ↔ node only ESP/IKE; node ↔ etcd TLS, counted apart.
  const v = cli(PREFIX, ['verify', '--seconds', '3', '--json', '--state-dir', stateDir]);
  assert.equal(v.status, 0, v.stdout + v.stderr);
  const report = JSON.parse(v.stdout) as { packets: { esp: number; ike: number; geneve_cleartext: number; other: number }; encrypted: boolean; control_plane: { tls: number; cleartext: number } };
  assert.equal(report.encrypted, true);
  assert.equal(report.packets.geneve_cleartext, 0);
  assert.equal(report.packets.other, 0);
  assert.ok(report.packets.esp > 0);
  assert.equal(report.control_plane.cleartext, 0);

  // With master0's credentials, from master0's namespace: its own key yes, worker0's no.
  const m0 = joins.get('master0')!;
  const ns0 = `${PREFIX}-master0`;
  const own = etcdctl(ns0, work, m0, ['put', `${P}/liveness/master0`, 'x'], endpoints);
  assert.equal(own.status, 0, own.stderr);
  for (const key of [`${P}/nodes/worker0`, `${P}/csrs/worker0`, `${P}/certificates/master0`]) {
    const r = etcdctl(ns0, work, m0, ['put', key, '{"forged":true}'], endpoints);
    assert.notEqual(r.status, 0, `${key} written with master0's credentials`);
    assert.match(r.stderr, /permission denied/);
  }
  const read = etcdctl(ns0, work, m0, ['get', `${P}/nodes/worker0`, '--print-value-only'], endpoints);
  assert.match(read.stdout, /"name":"worker0"/);
  // Without a join file: no certificate, no registration.
  writeFileSync(path.join(work, 'ca-only.pem'), m0.tls.caPem);
  const anon = etcdctl(ns0, work, undefined, ['put', `${P}/nodes/intruder`, '{}'], endpoints);
  assert.notEqual(anon.status, 0);
  const none = etcdctl(ns0, work, m0, ['get', `${P}/nodes/intruder`, '--print-value-only'], endpoints);
  assert.equal(none.stdout.trim(), '');

  // node join-file: refuses to overwrite without --force, in the administrator's namespace.
  const jf9 = path.join(work, 'worker9.join');
  const mk = (extra: string[]) => inNs(`${PREFIX}-underlay`, [process.execPath, '--no-deprecation', cliPath, 'node', 'join-file', '--node', 'worker9', '--out', jf9, '--admin-dir', state.etcd!.adminDir, ...extra], 60_000);
  assert.equal(mk(['--json']).status, 0);
  assert.equal(statSync(jf9).mode & 0o777, 0o600);
  const again = mk([]);
  assert.equal(again.status, 2);
  assert.match(again.stderr, /exists; pass --force/);

  // A node joins (registers, submits its CSR, waits for its certificate) from worker0's namespace,
  // and the etcd leader is killed with SIGKILL while it does.
  const rootFlags = ['--cacert', path.join(state.etcd!.adminDir, 'ca.pem'), '--cert', path.join(state.etcd!.adminDir, 'root.pem'), '--key', path.join(state.etcd!.adminDir, 'root-key.pem')];
  const status = inNs(`${PREFIX}-underlay`, ['env', 'ETCDCTL_API=3', 'etcdctl', `--endpoints=${endpoints.map((e) => `https://${e}`).join(',')}`, ...rootFlags, 'endpoint', 'status', '-w', 'json']);
  assert.equal(status.status, 0, status.stderr);
  const st = JSON.parse(status.stdout) as Array<{ Endpoint: string; Status: { header: { member_id: number }; leader: number } }>;
  const leaderEndpoint = st.find((s) => s.Status.header.member_id === s.Status.leader)!.Endpoint;
  const leader = members[endpoints.findIndex((e) => leaderEndpoint.endsWith(e))]!;
  const joinDir = path.join(work, 'worker9-state');
  const joining = spawn('ip', ['netns', 'exec', `${PREFIX}-worker0`, process.execPath, '--no-deprecation', cliPath, 'pki', 'enroll', '--node', 'worker9', '--key-algorithm', 'ecdsa', '--state-dir', joinDir, '--store-config', jf9], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  joining.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  joining.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((r) => setTimeout(r, 150));
  process.kill(leader.pid, 'SIGKILL');
  const [code] = (await Promise.race([once(joining, 'exit'), new Promise((r) => setTimeout(() => r([-1]), 120_000))])) as [number];
  if (code === -1) joining.kill('SIGKILL');
  assert.equal(code, 0, `enroll through a leader kill:\n${out}`);
  // SIGKILL takes effect when the process leaves the kernel: an etcd member inside an fsync of its
  // WAL on a busy disk dies only when that returns, which can be after the join has completed.
  await waitFor(() => !pidAlive(leader.pid), 'the killed etcd leader gone', 15_000);
  assert.ok(readdirSync(path.join(joinDir, 'nodes', 'worker9')).includes('ipsec-cert.pem'), out);

  const down = cli(PREFIX, ['down', '--state-dir', stateDir]);
  assert.equal(down.status, 0, down.stderr);
  await assertNothingLeft(PREFIX, pids);
  for (const d of ['etcd', 'etcd-admin', 'hosts', 'operator-etcd']) assert.ok(!existsSync(path.join(stateDir, d)), `${d} removed by down`);
});
