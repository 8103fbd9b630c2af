import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { enroll, installTrustBundle, renewalDue, renewalTime, CERT_FILE, CA_FILE } from '../../src/pki/enroll.js';
import { certInfo } from '../../src/pki/cert-info.js';
import { splitPem, verifiesAgainst, fingerprintOf } from '../../src/pki/cert-chain.js';
import { addYears, DAY_MS } from '../../src/pki/time.js';
import { CA_BUNDLE_KEY } from '../../src/store/index.js';
import { startOperator, type Harness } from './operator-harness.js';

/**
 * A whole cluster's life in seconds: 4 nodes enroll, the clock jumps 4.5 years (every node
 * renews), then 9 years (the CA rolls over). After every single action of a node or the
 * operator, every node's presented certificate must verify against the trust anchors every
 * other node has installed at that moment: trust is never split.
 */

const NODES = ['master0', 'master1', 'master2', 'worker0'];
const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);

// A deterministic shuffle, so a failure can be replayed.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Installed {
  cert: string;
  trust: string[];
}

async function installed(h: Harness, node: string): Promise<Installed> {
  const dir = path.join(h.stateDir, 'nodes', node);
  return { cert: await readFile(path.join(dir, CERT_FILE), 'utf8'), trust: splitPem(await readFile(path.join(dir, CA_FILE), 'utf8')) };
}

async function assertMutualTrust(h: Harness, now: number, when: string): Promise<void> {
  const all = await Promise.all(NODES.map((n) => installed(h, n)));
  for (let a = 0; a < NODES.length; a++)
    for (let b = 0; b < NODES.length; b++) {
      if (a === b) continue;
      assert.ok(verifiesAgainst(all[a]!.cert, all[b]!.trust, now), `${when}: ${NODES[b]} does not trust ${NODES[a]}'s certificate`);
    }
}

/** What an agent does on each wake-up: install the current bundle, renew if due. */
async function nodeStep(h: Harness, node: string, now: () => number): Promise<string | undefined> {
  const bundle = (await h.store.get('ca', CA_BUNDLE_KEY))!.value;
  const mine = await installed(h, node);
  if (JSON.stringify(mine.trust.map(fingerprintOf)) !== JSON.stringify(bundle.cas.map((c) => c.fingerprint))) {
    await installTrustBundle(h.store, node, path.join(h.stateDir, 'nodes', node), bundle, now);
    return 'trust';
  }
  const systemId = (await h.store.get('nodes', node))!.value.system_id;
  const due = renewalDue(mine.cert, systemId, bundle, now());
  if (due) {
    await enroll({ store: h.store, stateDir: h.stateDir, node, keyAlgorithm: 'ecdsa', now, timeoutMs: 30_000 });
    return `renew:${due}`;
  }
  return undefined;
}

test('renewal at 4.5 years and CA rollover at 9 years, never splitting trust', async () => {
  let t = T0;
  const now = (): number => t;
  const h = await startOperator({ now });
  const random = rng(7);
  try {
    for (const n of NODES) await enroll({ store: h.store, stateDir: h.stateDir, node: n, keyAlgorithm: 'ecdsa', now, timeoutMs: 30_000 });
    await assertMutualTrust(h, t, 'after enrollment');
    const firstCa = (await h.store.get('ca', CA_BUNDLE_KEY))!.value.cas[0]!;
    const first = await Promise.all(NODES.map((n) => installed(h, n)));

    // The checker has teeth: a certificate is not accepted by a CA that did not sign it.
    const otherCa = (await import('../../src/pki/ca.js')).createCa(t, 'ecdsa');
    assert.equal(verifiesAgainst(first[0]!.cert, [(await otherCa).certPem], t), false);

    // --- 4 years: nothing is due yet.
    t = addYears(new Date(T0), 4).getTime();
    for (const n of NODES) assert.equal(await nodeStep(h, n, now), undefined, `${n} at 4 years`);

    // Renewal times: 6 months before the end, less a per-node jitter of up to 7 days.
    const times = await Promise.all(NODES.map(async (n, i) => renewalTime(first[i]!.cert, (await h.store.get('nodes', n))!.value.system_id).getTime()));
    const sixMonthsBefore = addYears(new Date(certInfo(first[0]!.cert).not_after), -0.5).getTime();
    for (const x of times) assert.ok(x <= sixMonthsBefore && x > sixMonthsBefore - 7 * DAY_MS, new Date(x).toISOString());
    assert.equal(new Set(times).size, NODES.length, 'jitter spreads the renewals');

    // --- 4.5 years (+1 day, past any jitter): every node renews, one at a time.
    t = addYears(new Date(T0), 4.5).getTime() + DAY_MS;
    await assertMutualTrust(h, t, '4.5 years, before renewal');
    for (const n of NODES) {
      assert.equal(await nodeStep(h, n, now), 'renew:expiring', n);
      await assertMutualTrust(h, t, `4.5 years, after ${n} renewed`);
    }
    const renewed = await Promise.all(NODES.map((n) => installed(h, n)));
    for (let i = 0; i < NODES.length; i++) {
      const info = certInfo(renewed[i]!.cert);
      assert.notEqual(info.serial, certInfo(first[i]!.cert).serial);
      assert.equal(Date.parse(info.not_before), Math.floor(t / 1000) * 1000);
      assert.equal(fingerprintOf(renewed[i]!.trust[0]!), firstCa.fingerprint, 'same CA');
    }
    for (const n of NODES) assert.equal(await nodeStep(h, n, now), undefined, `${n} after renewal`);

    // --- 9 years: the CA rolls over. Nodes and operator act in a shuffled order, one action at a time.
    t = addYears(new Date(T0), 9).getTime() + 1000;
    await h.operator.reconcile();
    let bundle = (await h.store.get('ca', CA_BUNDLE_KEY))!.value;
    assert.equal(bundle.phase, 'distributing');
    assert.equal(bundle.cas.length, 2);
    const newCa = bundle.cas.find((c) => c.state === 'next')!;
    const phases = new Set<string>([bundle.phase]);
    const actions: string[] = [];
    for (let step = 0; step < 200; step++) {
      await assertMutualTrust(h, t, `rollover step ${step} (${actions.slice(-3).join(', ')})`);
      const who = Math.floor(random() * (NODES.length + 1));
      if (who === NODES.length) {
        await h.operator.reconcile();
        actions.push('operator');
      } else {
        const did = await nodeStep(h, NODES[who]!, now);
        if (did) actions.push(`${NODES[who]}:${did}`);
      }
      bundle = (await h.store.get('ca', CA_BUNDLE_KEY))!.value;
      phases.add(bundle.phase);
      const done =
        bundle.phase === 'steady' &&
        (await Promise.all(NODES.map((n) => installed(h, n)))).every((x) => x.trust.length === 1 && fingerprintOf(x.trust[0]!) === newCa.fingerprint && verifiesAgainst(x.cert, [newCa.pem], t));
      if (done) break;
    }
    await assertMutualTrust(h, t, 'after rollover');
    assert.deepEqual([...phases], ['distributing', 'reissuing', 'steady'], actions.join(' '));
    assert.deepEqual(bundle.cas.map((c) => [c.fingerprint, c.state]), [[newCa.fingerprint, 'active']], 'old CA dropped');
    for (const n of NODES) {
      const x = await installed(h, n);
      assert.ok(verifiesAgainst(x.cert, [newCa.pem], t), `${n} holds a certificate from the new CA`);
      assert.equal(verifiesAgainst(x.cert, [firstCa.pem], t), false);
      assert.deepEqual(x.trust.map(fingerprintOf), [newCa.fingerprint]);
      // Which reason a node saw depends on timing (at 9 years its 4.5-year certificate is also
      // close to its renewal time); what matters is that it renewed and now holds a new-CA certificate.
      assert.ok(actions.some((a) => a.startsWith(`${n}:renew:`)), `${n} renewed during the rollover: ${actions.join(' ')}`);
    }
    assert.ok(actions.some((a) => a.endsWith(':renew:new-ca')), actions.join(' '));
    // The new CA's certificate: 10 years from the rollover.
    assert.equal(Date.parse(newCa.not_after), addYears(new Date(newCa.not_before), 10).getTime());
  } finally {
    await h.done();
  }
});

test('a new CA does not sign until every node trusts it, and the old one stays until every node presents a new certificate', async () => {
  let t = T0;
  const now = (): number => t;
  const h = await startOperator({ now });
  try {
    for (const n of NODES) await enroll({ store: h.store, stateDir: h.stateDir, node: n, keyAlgorithm: 'ecdsa', now, timeoutMs: 30_000 });
    // Keep every node's certificate valid at 9 years for this test: renew them at 4.6 years first.
    t = addYears(new Date(T0), 4.6).getTime();
    for (const n of NODES) await nodeStep(h, n, now);
    t = addYears(new Date(T0), 9).getTime();
    await h.operator.reconcile();
    // Three of four nodes install the new bundle; the operator must keep waiting.
    for (const n of NODES.slice(0, 3)) assert.equal(await nodeStep(h, n, now), 'trust');
    for (let i = 0; i < 3; i++) await h.operator.reconcile();
    assert.equal((await h.store.get('ca', CA_BUNDLE_KEY))!.value.phase, 'distributing');
    assert.equal(await nodeStep(h, NODES[3]!, now), 'trust');
    await h.operator.reconcile();
    assert.equal((await h.store.get('ca', CA_BUNDLE_KEY))!.value.phase, 'reissuing');
    // Three of four renew; the old CA must stay in the bundle.
    for (const n of NODES.slice(0, 3)) assert.equal(await nodeStep(h, n, now), 'renew:new-ca');
    for (let i = 0; i < 3; i++) await h.operator.reconcile();
    assert.equal((await h.store.get('ca', CA_BUNDLE_KEY))!.value.cas.length, 2);
    assert.equal(await nodeStep(h, NODES[3]!, now), 'renew:new-ca');
    await h.operator.reconcile();
    const b = (await h.store.get('ca', CA_BUNDLE_KEY))!.value;
    assert.equal(b.phase, 'steady');
    assert.equal(b.cas.length, 1);
  } finally {
    await h.done();
  }
});
