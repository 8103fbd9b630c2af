import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createEtcdCa, issueClientCert, issueMemberCert } from '../../src/pki/etcd-certs.js';
import { CREDENTIALS_KIND, isCredentialsFile, parseCredentialsFile, JoinFileError, type CredentialsFile } from '../../src/store/join-file.js';
import { parseStoreConfig } from '../../src/store/store-config.js';
import { StoreSpecError } from '../../src/store/open-store.js';
import { nodeGrants, nodeOfUser, nodeUser, operatorGrants, operatorUser, clusterOfPrefix } from '../../src/store/etcd-identity.js';

const NOW = Date.parse('2026-06-01T00:00:00Z');
const YEAR = 365 * 86_400_000;

async function sample(): Promise<CredentialsFile> {
  const ca = await createEtcdCa(NOW);
  const c = await issueClientCert(ca, nodeUser('prod', 'worker1'), NOW, new Date(NOW + YEAR));
  return {
    endpoints: ['10.0.0.1:2379', 'etcd2.example:2379'], prefix: '/overlay-ipsec/prod', tls: { caPem: ca.certPem, certPem: c.certPem, keyPem: c.keyPem },
    join: {
      kind: CREDENTIALS_KIND, version: 1, user: nodeUser('prod', 'worker1'), node: 'worker1', cluster: 'prod',
      expires_at: c.notAfter.toISOString(), created_at: new Date(NOW).toISOString(),
    },
  };
}

test('a join file parses into an etcd store spec with its PEMs inline, until it expires', async () => {
  const doc = await sample();
  assert.ok(isCredentialsFile(doc));
  assert.ok(!isCredentialsFile({ endpoints: [] }));
  const p = parseCredentialsFile(JSON.stringify(doc), 'w1.join', NOW + 1000);
  assert.equal(p.node, 'worker1');
  assert.equal(p.user, 'oi/prod/node/worker1');
  assert.deepEqual(p.spec, { kind: 'etcd', endpoints: doc.endpoints, prefix: '/overlay-ipsec/prod', tls: doc.tls });
  assert.equal(p.expiresAt.getTime(), NOW + YEAR);
  assert.throws(() => parseCredentialsFile(JSON.stringify(doc), 'w1.join', NOW + YEAR + 1), (e: Error) => e instanceof JoinFileError
    && e.message === `w1.join: expired at ${new Date(NOW + YEAR).toISOString()} (node worker1); ask the administrator for a new one (overlay-ipsec node join-file --node worker1 --out FILE)`);
  // The file's own expiry is honoured when it is earlier than the certificate's.
  assert.throws(() => parseCredentialsFile(JSON.stringify({ ...doc, join: { ...doc.join, expires_at: new Date(NOW).toISOString() } }), 'w1.join', NOW + 1), /expired at 2026-06-01T00:00:00.000Z/);
});

test('a bad join file is one line naming the file and the key', async () => {
  const doc = await sample();
  const bad = (change: Record<string, unknown>, re: RegExp) => {
    assert.throws(() => parseCredentialsFile(JSON.stringify({ ...doc, ...change }), 'j.json', NOW), (e: Error) => {
      assert.ok(e instanceof JoinFileError, e.message);
      assert.match(e.message, re);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    });
  };
  assert.throws(() => parseCredentialsFile('{', 'j.json', NOW), /^JoinFileError: j.json: not JSON|j.json: not JSON/);
  const j = (change: Record<string, unknown>) => ({ join: { ...doc.join, ...change } });
  bad(j({ kind: 'store' }), /j.json: not a join file \(key "join.kind" must be "overlay-ipsec-etcd-credentials"\)/);
  bad(j({ version: 2 }), /key "join.version": 2 is not 1/);
  bad({ endpoints: [] }, /key "endpoints": not a list of HOST:PORT/);
  bad({ endpoints: ['https://x:1'] }, /key "endpoints"/);
  bad({ prefix: 'overlay' }, /key "prefix": not a key prefix/);
  bad(j({ user: undefined }), /key "join.user": missing, expected a user name/);
  bad({ tls: { ...doc.tls, keyPem: 'x' } }, /key "tls.keyPem": not a PEM private key/);
  bad({ tls: { ...doc.tls, caPem: undefined } }, /key "tls.caPem": missing, expected a PEM certificate/);
  bad(j({ expires_at: 'soon' }), /key "join.expires_at": not an ISO 8601 time/);
  // A file edited to claim another user than its certificate carries.
  bad(j({ user: nodeUser('prod', 'worker2') }), /key "join.user": "oi\/prod\/node\/worker2" is not the certificate's CN \("oi\/prod\/node\/worker1"\)/);
});

test('etcd certificates: client CN is the user; members carry their addresses; the CA bounds both', async () => {
  const ca = await createEtcdCa(NOW);
  const m = await issueMemberCert(ca, 'etcd0', ['192.168.7.241'], NOW);
  const x = new X509Certificate(m.certPem);
  assert.match(x.subjectAltName ?? '', /IP Address:192\.168\.7\.241/);
  assert.match(x.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
  assert.ok(x.verify(new X509Certificate(ca.certPem).publicKey));
  const c = await issueClientCert(ca, operatorUser('prod'), NOW, new Date(NOW + 20 * YEAR));
  const xc = new X509Certificate(c.certPem);
  assert.match(xc.subject, /CN=oi\/prod\/operator/);
  assert.equal(c.notAfter.getTime(), Date.parse(new X509Certificate(ca.certPem).validTo), 'never beyond the CA');
  await assert.rejects(issueClientCert(ca, 'x', NOW, new Date(NOW - 1)), /already have expired/);
  await assert.rejects(issueClientCert(ca, 'a b', NOW, new Date(NOW + YEAR)), /cannot be a certificate CN/);
});

test('roles: a node writes exactly its own four keys and reads the prefix; the operator the whole prefix', () => {
  assert.deepEqual(nodeGrants('/overlay-ipsec/prod', 'worker1'), [
    { permission: 'Readwrite', key: '/overlay-ipsec/prod/nodes/worker1' },
    { permission: 'Readwrite', key: '/overlay-ipsec/prod/csrs/worker1' },
    { permission: 'Readwrite', key: '/overlay-ipsec/prod/liveness/worker1' },
    { permission: 'Readwrite', key: '/overlay-ipsec/prod/dataplane/worker1' },
    { permission: 'Read', prefix: '/overlay-ipsec/prod/' },
  ]);
  assert.deepEqual(operatorGrants('/overlay-ipsec/prod'), [{ permission: 'Readwrite', prefix: '/overlay-ipsec/prod/' }]);
  assert.equal(nodeOfUser('prod', 'oi/prod/node/w1'), 'w1');
  assert.equal(nodeOfUser('prod', 'oi/other/node/w1'), undefined);
  assert.equal(nodeOfUser('prod', 'oi/prod/operator'), undefined);
  assert.equal(clusterOfPrefix('/overlay-ipsec/prod'), 'prod');
  assert.doesNotMatch(nodeUser('prod', 'w1') + operatorUser('prod'), /:/);
});

test('a join file is a store config file: read as one, refused as one once expired', async () => {
  const doc = await sample();
  const spec = parseStoreConfig(JSON.stringify(doc), 'w1.join');
  assert.deepEqual(spec, { kind: 'etcd', endpoints: doc.endpoints, prefix: '/overlay-ipsec/prod', tls: doc.tls });
  const old = { ...doc, join: { ...doc.join, expires_at: '2020-01-01T00:00:00Z' } };
  assert.throws(() => parseStoreConfig(JSON.stringify(old), 'w1.join'), (e: Error) => e instanceof StoreSpecError
    && /^w1\.join: expired at 2020-01-01T00:00:00\.000Z \(node worker1\); ask the administrator for a new one/.test(e.message));
  // A join section that is not ours is refused too, naming the key.
  assert.throws(() => parseStoreConfig(JSON.stringify({ ...doc, join: { kind: 'x' } }), 'w1.join'), /w1\.join: not a join file \(key "join.kind"/);
});
