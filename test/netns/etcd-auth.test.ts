import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Etcd3 } from 'etcd3';
import { etcdArgv } from '../../src/cluster/etcd-members.js';
import { endProcesses } from '../../src/cluster/topology-netns.js';
import { bootstrapEtcdAuth, initEtcdAdmin, issueCredentials, type EtcdAdmin } from '../../src/pki/etcd-admin.js';
import { createEtcdCa, issueClientCert } from '../../src/pki/etcd-certs.js';
import { adminClient } from '../../src/store/etcd-auth.js';
import { openStore } from '../../src/store/open-store.js';
import { cliPath } from '../helpers/paths.js';
import { parseCredentialsFile, writeCredentialsFile, type CredentialsFile } from '../../src/store/join-file.js';

// Real etcd (Debian's 3.4) on loopback with TLS, client certificates and auth, set up the way the
// administrator's commands do it. What must hold: a node's credentials write only that node's keys
// (etcd itself refuses the rest), read the cluster's documents, and nothing gets in without a
// certificate from the etcd CA — not a bare TLS client, not a certificate from another CA, not an
// expired one.

const dir = mkdtempSync(path.join(tmpdir(), 'oi-etcd-auth-'));
let etcdPid: number | undefined;
const clients: Etcd3[] = [];

after(async () => {
  for (const c of clients) c.close();
  if (etcdPid) await endProcesses([etcdPid], 3000);
  rmSync(dir, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

function clientOf(c: Pick<CredentialsFile, 'endpoints' | 'tls'>): Etcd3 {
  const e = adminClient({ endpoints: c.endpoints, ca: c.tls.caPem, cert: c.tls.certPem, key: c.tls.keyPem, callTimeoutMs: 5000 });
  clients.push(e);
  return e;
}

/** One etcd with auth for the file's tests, started by the first that asks. */
let started: Promise<EtcdAdmin> | undefined;
const etcdAdmin = (): Promise<EtcdAdmin> => (started ??= startEtcd());

async function startEtcd(): Promise<EtcdAdmin> {
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const adminDir = path.join(dir, 'admin');
  const admin = await initEtcdAdmin(adminDir, { cluster: 'authtest', prefix: '/overlay-ipsec/authtest', endpoints: [`127.0.0.1:${clientPort}`] }, [{ name: 'm0', ips: ['127.0.0.1'] }]);
  const argv = etcdArgv({
    name: 'm0', dataDir: path.join(dir, 'data'), adminDir, token: 'authtest',
    clientUrl: `https://127.0.0.1:${clientPort}`, peerUrl: `https://127.0.0.1:${peerPort}`, initialCluster: [`m0=https://127.0.0.1:${peerPort}`],
  });
  const log = path.join(dir, 'etcd.log');
  const fd = openSync(log, 'a');
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  etcdPid = child.pid;
  // The bootstrap is idempotent: retried until the member answers.
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await bootstrapEtcdAuth(admin);
      return admin;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`etcd did not take the bootstrap: ${(err as Error).message}\n${(await readFile(log, 'utf8')).slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

test('per-node etcd identities: a node writes only its own keys, reads the cluster; strangers are refused', async () => {
  const admin = await etcdAdmin();
  const p = admin.prefix;
  const year = new Date(Date.now() + 365 * 86_400_000);
  const a = await issueCredentials(admin, { node: 'nodea', expiresAt: year });
  const b = await issueCredentials(admin, { node: 'nodeb', expiresAt: year });
  const op = await issueCredentials(admin, { expiresAt: year });
  assert.equal(a.join.user, 'oi/authtest/node/nodea');
  assert.equal(op.join.user, 'oi/authtest/operator');

  // The join file: 0600, refused when it exists, replaced with force, parsed back to a store spec.
  const file = path.join(dir, 'nodea.join');
  await writeCredentialsFile(file, a);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  await assert.rejects(writeCredentialsFile(file, a), /exists; pass --force/);
  await writeCredentialsFile(file, b, { force: true });
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const parsed = parseCredentialsFile(await readFile(file, 'utf8'), file);
  assert.equal(parsed.node, 'nodeb');
  assert.deepEqual(parsed.spec.endpoints, admin.endpoints);
  assert.equal(parsed.spec.prefix, p);
  assert.doesNotMatch(await readFile(file, 'utf8'), /IPSEC|ipsec-privkey/);

  const ca = clientOf(a);
  const cb = clientOf(b);
  const cop = clientOf(op);
  const denied = /permission denied/i;

  // Its own registration, CSR and liveness key: allowed.
  for (const c of ['nodes', 'csrs', 'liveness']) await ca.put(`${p}/${c}/nodea`).value('{}');
  // Another node's: refused by etcd.
  await assert.rejects(ca.put(`${p}/nodes/nodeb`).value('{"forged":true}').exec(), denied);
  await assert.rejects(ca.put(`${p}/csrs/nodeb`).value('{"forged":true}').exec(), denied);
  await assert.rejects(ca.put(`${p}/liveness/nodeb`).value('{}').exec(), denied);
  // A name that merely starts with its own: exact keys, not prefixes.
  await assert.rejects(ca.put(`${p}/nodes/nodea2`).value('{}').exec(), denied);
  // What only the operator writes, and anything outside the cluster's prefix.
  await assert.rejects(ca.put(`${p}/certificates/nodea`).value('{}').exec(), denied);
  await assert.rejects(ca.put(`${p}/ca/bundle`).value('{}').exec(), denied);
  await assert.rejects(ca.put('/overlay-ipsec/other/nodes/nodea').value('{}').exec(), denied);
  await assert.rejects(ca.delete().key(`${p}/nodes/nodeb`).exec(), denied);
  await assert.rejects(ca.get('/overlay-ipsec/other/x').string(), denied);
  // Reading the cluster's documents: allowed (they hold no secret), including other nodes' keys.
  await cb.put(`${p}/nodes/nodeb`).value('{"b":1}');
  assert.equal(await ca.get(`${p}/nodes/nodeb`).string(), '{"b":1}');
  assert.equal(Object.keys(await ca.getAll().prefix(`${p}/nodes/`).strings()).length, 2);
  // The operator writes anywhere under the prefix, and nowhere else.
  await cop.put(`${p}/certificates/nodea`).value('{}');
  await cop.put(`${p}/nodes/nodeb`).value('{"b":2}');
  await assert.rejects(cop.put('/overlay-ipsec/other/x').value('{}').exec(), denied);
  // Auth is on: user management needs root, which no node and no operator holds.
  await assert.rejects(ca.auth.userAdd({ name: 'x', options: { no_password: true } }), denied);
  await assert.rejects(cop.auth.authDisable(), denied);

  // No join file: a TLS client without a certificate is refused by etcd (client-cert-auth).
  const anon = clientOf({ endpoints: admin.endpoints, tls: { caPem: admin.ca.certPem, certPem: '', keyPem: '' } });
  await assert.rejects(anon.put(`${p}/nodes/nodec`).value('{}').exec());
  // A certificate from another CA (the IPsec CA is a different one) naming a real user: refused.
  const other = await createEtcdCa(Date.now(), 'not the etcd CA');
  const forged = await issueClientCert(other, a.join.user, Date.now(), year);
  const cf = clientOf({ endpoints: admin.endpoints, tls: { caPem: admin.ca.certPem, certPem: forged.certPem, keyPem: forged.keyPem } });
  await assert.rejects(cf.put(`${p}/nodes/nodea`).value('{}').exec());
  assert.equal(await cop.get(`${p}/nodes/nodec`).string(), null);

  // An expired join file: refused by the node with one clear line, and by etcd itself.
  const short = await issueCredentials(admin, { node: 'nodea', expiresAt: new Date(Date.now() + 2000) });
  const shortFile = path.join(dir, 'short.join');
  await writeCredentialsFile(shortFile, short);
  await new Promise((r) => setTimeout(r, 2500));
  assert.throws(() => parseCredentialsFile(JSON.stringify(short), shortFile), (err: Error) => {
    assert.match(err.message, /short\.join: expired at .*Z \(node nodea\); ask the administrator for a new one \(overlay-ipsec node join-file --node nodea/);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  });
  const expired = clientOf(short);
  await assert.rejects(expired.put(`${p}/nodes/nodea`).value('{}').exec());
});

test('node remove on etcd: the node\'s records and, with the admin directory, its etcd user go; its join file stops working', async () => {
  const admin = await etcdAdmin();
  const p = admin.prefix;
  const year = new Date(Date.now() + 365 * 86_400_000);
  const T = new Date().toISOString();
  const op = await issueCredentials(admin, { expiresAt: year });
  const opFile = path.join(dir, 'operator.json');
  await writeCredentialsFile(opFile, op);
  const run = (args: string[]) => spawnSync(process.execPath, [cliPath, 'node', 'remove', ...args, '--json'], { encoding: 'utf8', timeout: 30_000 });
  const credsOf = new Map<string, CredentialsFile>();
  for (const [i, name] of ['noder', 'nodeq'].entries()) {
    const creds = await issueCredentials(admin, { node: name, expiresAt: year });
    credsOf.set(name, creds);
    const own = await openStore(parseCredentialsFile(JSON.stringify(creds), `${name}.join`).spec);
    try {
      await own.put('nodes', name, { name, system_id: `00000000-0000-4000-8000-00000000000${i}`, registered_at: T, trusted_ca: [] });
    } finally {
      await own.close();
    }
    await clientOf(creds).put(`${p}/liveness/${name}`).value('{}');
  }
  const opStore = await openStore(parseCredentialsFile(JSON.stringify(op), opFile).spec);
  try {
    await opStore.put('subnets', '10.254.7.0/24', { cidr: '10.254.7.0/24', node: 'noder', allocated_at: T });
  } finally {
    await opStore.close();
  }

  // With the admin directory (root): the user and role first, then every record.
  const r = run(['noder', '--admin-dir', admin.dir]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    node: 'noder', registration: true, csr: false, certificate: false, dataplane: false, subnets: ['10.254.7.0/24'], liveness: true,
    etcd_user: 'oi/authtest/node/noder', etcd_user_deleted: true,
  });
  const root = clientOf({ endpoints: admin.endpoints, tls: { caPem: admin.ca.certPem, certPem: admin.rootCert, keyPem: admin.rootKey } });
  assert.equal(await root.get(`${p}/nodes/noder`).string(), null);
  assert.ok(!(await root.getUsers()).some((u) => u.name === 'oi/authtest/node/noder'));
  // Its join file no longer opens etcd: it cannot register again.
  await assert.rejects(clientOf(credsOf.get('noder')!).put(`${p}/nodes/noder`).value('{}').exec(), /permission denied|user name not found|authentication failed/i);
  const again = run(['noder', '--admin-dir', admin.dir]);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /node noder: not found \(no registration, CSR, certificate, subnet, data-plane or liveness record in etcd .* under \/overlay-ipsec\/authtest, no etcd user\)/);

  // With the operator's credentials: the records go, the etcd user stays (only root can delete it).
  const q = run(['nodeq', '--store-config', opFile]);
  assert.equal(q.status, 0, q.stderr);
  assert.deepEqual(JSON.parse(q.stdout), { node: 'nodeq', registration: true, csr: false, certificate: false, dataplane: false, subnets: [], liveness: true, etcd_user: null, etcd_user_deleted: null });
  assert.ok((await root.getUsers()).some((u) => u.name === 'oi/authtest/node/nodeq'));
  // Members reached by IP, with the administrator's client and the store's: no IP as TLS ServerName (DEP0123).
  for (const x of [r, again, q]) assert.doesNotMatch(x.stderr, /DEP0123|Warning/);
});
