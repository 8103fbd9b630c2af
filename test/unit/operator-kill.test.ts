import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, readdir, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { FsStore, storeDir, CA_BUNDLE_KEY } from '../../src/store/index.js';
import { loadOrCreateIdentity } from '../../src/pki/node-identity.js';
import { registerNode, submitCsr } from '../../src/pki/enroll.js';
import { generateKeyPair } from '../../src/pki/keys.js';
import { createNodeCsr } from '../../src/pki/node-csr.js';
import { verifiesAgainst } from '../../src/pki/cert-chain.js';
import { parseCidr, cidrContains } from '../../src/wire/address.js';
import { cliPath } from '../helpers/paths.js';
import { SEED_CONFIG } from './operator-harness.js';

/**
 * kill -9 the operator while it signs a backlog of CSRs, several rounds with node churn in
 * between, then let it finish: no corrupt document, no lost CSR, no subnet given twice.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function newCsr(store: FsStore, stateDir: string, node: string): Promise<void> {
  const id = await loadOrCreateIdentity(stateDir, node);
  await registerNode(store, id, Date.now);
  await submitCsr(store, node, await createNodeCsr(await generateKeyPair('ecdsa'), id.systemId), Date.now);
}

async function spawnOperator(stateDir: string, logName: string): Promise<{ child: ChildProcess; exited: Promise<number | null | string> }> {
  const log = await open(path.join(stateDir, logName), 'w');
  const child = spawn(process.execPath, [cliPath, 'operator', '--state-dir', stateDir, '--config', ...SEED_CONFIG, '--underlay-mtu', '1546', '--tick-ms', '200'], {
    stdio: ['ignore', log.fd, log.fd],
  });
  const exited = new Promise<number | null | string>((resolve) => child.on('exit', (code, sig) => { void log.close(); resolve(sig ?? code); }));
  return { child, exited };
}

/** Invariants that must hold at every moment, even right after a kill -9. */
async function checkInvariants(store: FsStore, round: string): Promise<{ approved: number; pending: number }> {
  const c = await store.check();
  assert.deepEqual(c.problems, [], `${round}: corrupt documents`);
  const nodes = new Set((await store.list('nodes')).map((e) => e.key));
  const perNode = new Map<string, string[]>();
  for (const s of await store.list('subnets')) {
    assert.equal(s.key, s.value.cidr);
    perNode.set(s.value.node, [...(perNode.get(s.value.node) ?? []), s.key]);
  }
  for (const [n, list] of perNode) assert.equal(list.length, 1, `${round}: node ${n} holds ${list.join(', ')}`);
  const csrs = await store.list('csrs');
  let approved = 0;
  let pending = 0;
  for (const e of csrs) {
    if (e.value.status === 'approved') {
      approved++;
      const cert = await store.get('certificates', e.key);
      // Approved means its certificate is there (the certificate is written before the approval).
      if (nodes.has(e.key)) assert.equal(cert?.value.request_id, e.value.request_id, `${round}: ${e.key} approved without its certificate`);
    } else if (e.value.status === 'pending') pending++;
    // The only refusal allowed: a request from a node that was removed before it was decided.
    else assert.equal(e.value.reason, `node ${e.key} is not registered (nodes/${e.key} missing)`, `${round}: ${e.key} denied`);
  }
  return { approved, pending };
}

test('kill -9 during signing, restart: no corrupt document, no lost CSR, no double subnet', { timeout: 300_000 }, async (t) => {
  const stateDir = await mkdtemp(path.join(tmpdir(), 'oi-kill-'));
  const store = await FsStore.open(storeDir(stateDir));
  const children: ChildProcess[] = [];
  try {
    let nextNode = 0;
    const names: string[] = [];
    for (let i = 0; i < 40; i++) {
      const n = `node${nextNode++}`;
      names.push(n);
      await newCsr(store, stateDir, n);
    }
    let killedMidway = 0;
    // A node's subnet never moves, across any number of restarts.
    const subnetOf = new Map<string, string>();
    const checkStable = async (when: string): Promise<void> => {
      for (const s of await store.list('subnets')) {
        const prev = subnetOf.get(s.value.node);
        if (prev) assert.equal(s.key, prev, `${when}: ${s.value.node} moved from ${prev} to ${s.key}`);
        subnetOf.set(s.value.node, s.key);
      }
    };
    for (let round = 0; round < 6; round++) {
      const before = await checkInvariants(store, `before round ${round}`);
      const { child, exited } = await spawnOperator(stateDir, `operator-${round}.log`);
      children.push(child);
      if (round === 0) {
        // Early: likely while the CA is being made.
        await sleep(200 + Math.random() * 800);
      } else {
        // Wait until it is signing (approvals move), then kill at a random moment.
        for (let i = 0; i < 1500; i++) {
          const csrs = await store.list('csrs');
          if (csrs.filter((e) => e.value.status === 'approved').length > before.approved || csrs.every((e) => e.value.status !== 'pending')) break;
          await sleep(20);
        }
        await sleep(Math.random() * 150);
      }
      child.kill('SIGKILL');
      assert.equal(await exited, 'SIGKILL');
      const after = await checkInvariants(store, `after kill ${round}`);
      await checkStable(`after kill ${round}`);
      if (after.pending > 0 && after.approved > before.approved) killedMidway++;
      t.diagnostic(`round ${round}: approved ${before.approved} -> ${after.approved}, pending ${before.pending} -> ${after.pending} at the kill`);

      // Churn: two nodes leave, two join, three ask for a new certificate.
      const gone = names.splice(Math.floor(Math.random() * names.length), 1).concat(names.splice(Math.floor(Math.random() * names.length), 1));
      for (const g of gone) await store.delete('nodes', g);
      for (let i = 0; i < 2; i++) {
        const n = `node${nextNode++}`;
        names.push(n);
        await newCsr(store, stateDir, n);
      }
      for (const n of names.slice(0, 3)) await newCsr(store, stateDir, n);
    }
    assert.ok(killedMidway >= 1, `at least one kill landed in the middle of a signing backlog (got ${killedMidway})`);

    // Final run to completion, then a clean SIGTERM.
    const { child, exited } = await spawnOperator(stateDir, 'operator-final.log');
    children.push(child);
    let final = await checkInvariants(store, 'final');
    for (let i = 0; i < 600 && (final.pending > 0 || (await store.list('subnets')).length !== names.length); i++) {
      await sleep(100);
      final = await checkInvariants(store, 'final');
    }
    child.kill('SIGTERM');
    assert.equal(await exited, 0, 'clean exit on SIGTERM');
    final = await checkInvariants(store, 'final');
    assert.equal(final.pending, 0);
    await checkStable('final');

    // Every live node: its latest request approved, its certificate from the one CA.
    const bundle = (await store.get('ca', CA_BUNDLE_KEY))!.value;
    assert.equal(bundle.cas.length, 1);
    const keyFiles = (await readdir(path.join(stateDir, 'operator', 'ca'))).filter((f) => f.endsWith('.key'));
    assert.ok(keyFiles.includes(`${bundle.cas[0]!.serial}.key`), 'the CA in the bundle has its key');
    for (const n of names) {
      const csr = (await store.get('csrs', n))!.value;
      const cert = (await store.get('certificates', n))!.value;
      assert.equal(csr.status, 'approved', n);
      assert.equal(cert.request_id, csr.request_id, n);
      assert.ok(verifiesAgainst(cert.pem, [bundle.cas[0]!.pem], Date.now()), n);
    }
    // Subnets: exactly one per live node, none for removed nodes, all distinct /24s of the cluster network.
    const subnets = await store.list('subnets');
    assert.deepEqual(subnets.map((s) => s.value.node).sort(), [...names].sort());
    assert.equal(new Set(subnets.map((s) => s.key)).size, subnets.length);
    const cluster = (parseCidr('10.254.0.0/16') as { ok: true; cidr: { base: number; prefix: number } }).cidr;
    for (const s of subnets) {
      const c = parseCidr(s.key);
      assert.ok(c.ok && c.cidr.prefix === 24 && cidrContains(cluster, c.cidr), s.key);
    }
    // Removed nodes' certificates are gone too.
    assert.deepEqual((await store.list('certificates')).map((e) => e.key).sort(), [...names].sort());
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await store.close();
    await rm(stateDir, { recursive: true, force: true });
  }
});
