import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cliPath } from '../helpers/paths.js';
import { openStore, StoreUnavailableError, type StoreSpec } from '../../src/store/index.js';
import { EtcdCluster } from '../helpers/etcd.js';
import { nodeDoc } from './contract.js';

// The test helper's TLS cluster and the store's client TLS: mutual TLS works with a certificate
// from the cluster's CA; without one, or trusting another CA, no call gets through (and says so
// by its deadline, without hanging). A member reached by IP must name that IP in its certificate,
// and the IP is not sent as the TLS server name (Node's DEP0123 warning never shows).

/** Deprecation warnings this process emits while `fn` runs. */
async function warningsDuring(fn: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const on = (w: Error & { code?: string }): void => void seen.push(`${w.code ?? w.name}: ${w.message}`);
  process.on('warning', on);
  try {
    await fn();
  } finally {
    process.off('warning', on);
  }
  return seen;
}

test('etcd with mutual TLS: a client certificate from its CA gets in, none does not', async () => {
  const etcd = await EtcdCluster.start({ members: 3, tls: true });
  try {
    assert.equal(etcd.running().length, 3);
    const leader = await etcd.leader();
    assert.ok(etcd.members.includes(leader));
    const spec = etcd.storeSpec({ cn: 'operator' });
    const warnings = await warningsDuring(async () => {
      const store = await openStore(spec);
      try {
        const r = await store.put('nodes', 'a', nodeDoc('a'));
        assert.equal((await store.get('nodes', 'a'))?.revision, r);
      } finally {
        await store.close();
      }
    });
    assert.deepEqual(warnings, [], 'no warning (DEP0123: an IP as TLS ServerName) from a client of members reached by IP');
    // The same through the command line: nothing on stderr but what the command says.
    const root = etcd.clientCert('root');
    const cli = spawnSync(process.execPath, [cliPath, 'pki', 'show', '--json', '--store', `etcd://${etcd.endpoints.join(',')}`, '--etcd-ca', etcd.caPath, '--etcd-cert', root.cert, '--etcd-key', root.key], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(cli.status, 0, cli.stderr);
    assert.equal(cli.stderr, '');
    const noCert = await openStore({ ...spec, tls: { ca: etcd.caPath }, callTimeoutMs: 1500 } as StoreSpec);
    try {
      await assert.rejects(noCert.get('nodes', 'a'), StoreUnavailableError);
    } finally {
      await noCert.close();
    }
    const plain = await openStore({ kind: 'etcd', endpoints: etcd.endpoints, prefix: '/overlay-ipsec/default', callTimeoutMs: 1500 });
    try {
      await assert.rejects(plain.get('nodes', 'a'), StoreUnavailableError);
    } finally {
      await plain.close();
    }
  } finally {
    await etcd.close();
  }
});

test('a member whose certificate does not name the IP it is reached at is refused, with the reason', async () => {
  const etcd = await EtcdCluster.start({ members: 1, tls: true, memberSans: ['localhost'] });
  try {
    const byIp = await openStore(etcd.storeSpec({ callTimeoutMs: 1500 }));
    try {
      await assert.rejects(byIp.get('nodes', 'a'), (err: Error) => {
        assert.ok(err instanceof StoreUnavailableError, String(err));
        assert.match(err.message, /etcd member 127\.0\.0\.1:\d+: its certificate does not name 127\.0\.0\.1 \(.*IP: 127\.0\.0\.1 is not in the cert's list/);
        return true;
      });
    } finally {
      await byIp.close();
    }
    // The certificate is good for the name it carries: reached as localhost, the member answers.
    const spec = etcd.storeSpec();
    const byName = await openStore({ ...spec, endpoints: spec.kind === 'etcd' ? spec.endpoints.map((e) => e.replace('127.0.0.1', 'localhost')) : [] } as StoreSpec);
    try {
      await byName.put('nodes', 'a', nodeDoc('a'));
      assert.equal((await byName.get('nodes', 'a'))?.value.name, 'a');
    } finally {
      await byName.close();
    }
  } finally {
    await etcd.close();
  }
});
