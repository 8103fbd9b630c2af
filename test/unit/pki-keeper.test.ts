import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { CredentialKeeper, type CredentialsChanged } from '../../src/pki/keeper.js';
import { splitPem, verifiesAgainst } from '../../src/pki/cert-chain.js';
import { addYears, DAY_MS } from '../../src/pki/time.js';
import { CA_BUNDLE_KEY } from '../../src/store/index.js';
import { startOperator } from './operator-harness.js';

/** The agent's view: credential keepers, driven by store events, through renewal and rollover. */

const NODES = ['master0', 'worker0', 'worker1'];
const T0 = Date.UTC(2026, 5, 1);

test('credential keepers enroll, renew at 4.5 years and follow a CA rollover on their own', { timeout: 240_000 }, async () => {
  let t = T0;
  const now = (): number => t;
  const h = await startOperator({ now });
  const events = new Map<string, CredentialsChanged[]>(NODES.map((n) => [n, []]));
  const keepers = NODES.map(
    (node) => new CredentialKeeper({ store: h.store, stateDir: h.stateDir, node, now, keyAlgorithm: 'ecdsa', timeoutMs: 60_000, jitterMaxMs: DAY_MS / 2, onChange: (ev) => events.get(node)!.push(ev) }),
  );
  const trustOk = async (when: string): Promise<void> => {
    const inst = await Promise.all(keepers.map(async (k) => ({ cert: await readFile(k.paths.certPath, 'utf8'), trust: splitPem(await readFile(k.paths.caPath, 'utf8')) })));
    for (const a of inst) for (const b of inst) assert.ok(verifiesAgainst(a.cert, b.trust, t), when);
  };
  try {
    await Promise.all(keepers.map((k) => k.start()));
    for (const n of NODES) assert.deepEqual(events.get(n)!.map((e) => e.kind), ['enrolled']);
    await trustOk('enrolled');
    assert.deepEqual((await Promise.all(keepers.map((k) => k.check()))).flat(), [], 'nothing to do right after enrolling');

    t = addYears(new Date(T0), 4.5).getTime() + DAY_MS;
    for (const k of keepers) {
      const did = await k.check();
      assert.deepEqual(did.map((e) => [e.kind, e.reason]), [['renewed', 'expiring']]);
      await trustOk('renewing');
    }

    // 9 years: one operator pass starts the rollover; from then on store events drive everything.
    // (Jitter is capped at half a day here, so the 4.5-year certificates are not yet due by age.)
    const oldFp = (await h.store.get('ca', CA_BUNDLE_KEY))!.value.cas[0]!.fingerprint;
    t = addYears(new Date(T0), 9).getTime();
    await h.operator.reconcile();
    // Events may already have carried the rollover past 'distributing': find the new CA by fingerprint.
    const newCa = (await h.store.get('ca', CA_BUNDLE_KEY))!.value.cas.find((c) => c.fingerprint !== oldFp)!;
    assert.ok(newCa, 'a new CA after 9 years');
    for (let i = 0; i < 600; i++) {
      await trustOk(`rollover ${i}`);
      const b = (await h.store.get('ca', CA_BUNDLE_KEY))!.value;
      const certs = await Promise.all(keepers.map((k) => readFile(k.paths.certPath, 'utf8')));
      const trusts = await Promise.all(keepers.map(async (k) => splitPem(await readFile(k.paths.caPath, 'utf8')).length));
      if (b.phase === 'steady' && b.cas.length === 1 && certs.every((c) => verifiesAgainst(c, [newCa.pem], t)) && trusts.every((x) => x === 1)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // Let steps in flight finish (files are written before their events are delivered).
    assert.deepEqual((await Promise.all(keepers.map((k) => k.check()))).flat(), []);
    const b = (await h.store.get('ca', CA_BUNDLE_KEY))!.value;
    assert.deepEqual(b.cas.map((c) => c.fingerprint), [newCa.fingerprint]);
    for (const k of keepers) assert.ok(verifiesAgainst(await readFile(k.paths.certPath, 'utf8'), [newCa.pem], t));
    for (const n of NODES) {
      const kinds = events.get(n)!.map((e) => e.kind);
      assert.ok(kinds.filter((x) => x === 'trust').length >= 2, `${n}: trusted both, then only the new CA: ${kinds.join(' ')}`);
      assert.equal(kinds.filter((x) => x === 'renewed').length, 2, `${n}: ${kinds.join(' ')}`);
    }
  } finally {
    await Promise.all(keepers.map((k) => k.stop()));
    await h.done();
  }
});
