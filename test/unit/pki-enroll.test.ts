import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { enroll, EnrollmentRefused, CERT_FILE, CA_FILE, KEY_FILE } from '../../src/pki/enroll.js';
import { loadOrCreateIdentity } from '../../src/pki/node-identity.js';
import { CA_BUNDLE_KEY } from '../../src/store/index.js';
import { startOperator, opensslCsr, openssl } from './operator-harness.js';

function opensslDate(text: string, field: 'notBefore' | 'notAfter'): Date {
  const m = new RegExp(`${field}=(.*)`).exec(text);
  assert.ok(m, text);
  return new Date(m[1]!);
}

function plusYears(d: Date, y: number): Date {
  const x = new Date(d);
  x.setUTCFullYear(x.getUTCFullYear() + y);
  return x;
}

test('a CSR made the OpenShift way with openssl is signed; openssl verify accepts it; 5 and 10 years exactly', async () => {
  const h = await startOperator();
  const work = await mkdtemp(path.join(tmpdir(), 'oi-csr-'));
  try {
    const uuid = randomUUID();
    const csrPem = opensslCsr(work, uuid);
    const out = path.join(work, 'keys');
    const r = await enroll({ store: h.store, stateDir: h.stateDir, node: 'worker0', systemId: uuid, csrPem, outDir: out, timeoutMs: 30_000 });
    assert.equal(r.keyPath, undefined, 'no key made here when the CSR comes from elsewhere');
    const cert = path.join(out, CERT_FILE);
    const ca = path.join(out, CA_FILE);
    assert.equal(openssl(['verify', '-CAfile', ca, cert]).trim(), `${cert}: OK`);
    // strongSwan, an independent X.509 implementation, trusts it too.
    const sw = execFileSync('pki', ['--verify', '--in', cert, '--cacert', ca], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.match(sw, /certificate trusted, lifetimes valid/);
    // The key openssl made belongs to the certificate.
    assert.equal(openssl(['x509', '-in', cert, '-noout', '-pubkey']), openssl(['pkey', '-in', path.join(work, `${uuid}-2048.key`), '-pubout']));

    const nodeDates = openssl(['x509', '-in', cert, '-noout', '-dates']);
    const nb = opensslDate(nodeDates, 'notBefore');
    assert.equal(opensslDate(nodeDates, 'notAfter').getTime(), plusYears(nb, 5).getTime(), nodeDates);
    const caDates = openssl(['x509', '-in', ca, '-noout', '-dates']);
    assert.equal(opensslDate(caDates, 'notAfter').getTime(), plusYears(opensslDate(caDates, 'notBefore'), 10).getTime(), caDates);

    const text = openssl(['x509', '-in', cert, '-noout', '-text']);
    assert.match(text, new RegExp(`Subject: C = US, O = ovnkubernetes, OU = kind, CN = ${uuid}`));
    assert.match(text, new RegExp(`DNS:${uuid}`));
    assert.match(text, /Issuer: CN = ovn-ipsec-ca@[0-9]+, O = overlay-ipsec/);
    assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
    assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication, ipsec Internet Key Exchange/);
    assert.match(text, /CA:FALSE/);
    const caText = openssl(['x509', '-in', ca, '-noout', '-text']);
    assert.match(caText, /CA:TRUE/);
    assert.match(caText, /Certificate Sign, CRL Sign/);
    assert.match(caText, /Public-Key: \(2048 bit\)/, 'RSA-2048 CA by default, as OpenShift');

    // The CA key lives only in the operator's directory, 0600.
    const keys = await readdir(path.join(h.stateDir, 'operator', 'ca'));
    const keyFile = keys.find((k) => k.endsWith('.key'))!;
    assert.equal((await stat(path.join(h.stateDir, 'operator', 'ca', keyFile))).mode & 0o777, 0o600);
    const stored = await h.store.get('csrs', 'worker0');
    assert.equal(stored?.value.status, 'approved');
    assert.equal((await h.store.get('certificates', 'worker0'))?.value.system_id, uuid);
    // Trust and presented certificate are reported back to the operator.
    const nodeDoc = (await h.store.get('nodes', 'worker0'))!.value;
    const bundle = (await h.store.get('ca', CA_BUNDLE_KEY))!.value;
    assert.deepEqual(nodeDoc.trusted_ca, [bundle.cas[0]!.fingerprint]);
    assert.equal(nodeDoc.cert_serial, r.certificate.serial);
  } finally {
    await h.done();
    await rm(work, { recursive: true, force: true });
  }
});

test('a node makes its own key (RSA and ECDSA), kept 0600 in its directory, and keeps its system-id', async () => {
  const h = await startOperator({ keyAlgorithm: 'ecdsa' });
  try {
    for (const [node, alg] of [['master0', 'rsa'], ['master1', 'ecdsa']] as const) {
      const r = await enroll({ store: h.store, stateDir: h.stateDir, node, keyAlgorithm: alg, timeoutMs: 30_000 });
      assert.equal(path.dirname(r.keyPath!), path.join(h.stateDir, 'nodes', node));
      assert.equal((await stat(r.keyPath!)).mode & 0o777, 0o600);
      assert.equal(openssl(['verify', '-CAfile', r.caPath, r.certPath]).trim(), `${r.certPath}: OK`);
      const text = openssl(['x509', '-in', r.certPath, '-noout', '-text']);
      assert.match(text, alg === 'rsa' ? /Digital Signature, Key Encipherment/ : /Key Usage: critical\s+Digital Signature\n/);
      assert.match(text, /ecdsa-with-SHA256/, 'signed by the ECDSA CA');
      // Key and certificate match (openssl compares the public halves).
      assert.equal(openssl(['x509', '-in', r.certPath, '-noout', '-pubkey']), openssl(['pkey', '-in', r.keyPath!, '-pubout']));
      const again = await loadOrCreateIdentity(h.stateDir, node);
      assert.equal(again.systemId, r.identity.systemId);
      assert.equal(r.certificate.system_id, r.identity.systemId);
      // No other files than the node's own in its directory: the key is not copied anywhere.
      assert.deepEqual((await readdir(path.join(h.stateDir, 'nodes', node))).sort(), [CA_FILE, CERT_FILE, KEY_FILE, 'ipsec-req.pem', 'system-id']);
    }
    const a = (await h.store.get('nodes', 'master0'))!.value.system_id;
    await assert.rejects(loadOrCreateIdentity(h.stateDir, 'master0', randomUUID()), new RegExp(`already has system-id ${a}`));
  } finally {
    await h.done();
  }
});

test('refused: CN of another node, bad signature, garbage, wrong SAN, weak key — reason stored, nothing signed', async () => {
  const h = await startOperator();
  const work = await mkdtemp(path.join(tmpdir(), 'oi-csr-'));
  try {
    const a = await enroll({ store: h.store, stateDir: h.stateDir, node: 'worker-a', keyAlgorithm: 'ecdsa', timeoutMs: 30_000 });
    const aId = a.identity.systemId;

    const good = opensslCsr(work, randomUUID());
    // Flip one bit in the last byte of the signature (the end of the DER).
    const der = Buffer.from(good.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
    der[der.length - 1]! ^= 0x01;
    const forged = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE REQUEST-----\n`;

    const cases: { node: string; csr: (id: string) => string; reason: RegExp }[] = [
      { node: 'worker-b', csr: () => opensslCsr(work, aId), reason: new RegExp(`^CSR CN ${aId} is the system-id of node worker-a, not of this node \\(`) },
      {
        node: 'worker-c',
        csr: () => forged,
        reason: /^CSR signature does not verify with the key it carries \(altered or forged request\)$/,
      },
      { node: 'worker-d', csr: () => 'hello, operator\n', reason: /^not a PEM certificate request \(no BEGIN CERTIFICATE REQUEST block\)$/ },
      { node: 'worker-e', csr: () => '-----BEGIN CERTIFICATE REQUEST-----\nAAAAAAAA\n-----END CERTIFICATE REQUEST-----\n', reason: /^not a valid PKCS#10 certificate request: / },
      { node: 'worker-f', csr: (id) => opensslCsr(work, id, `DNS:${id}, DNS:evil.example`), reason: /^CSR subjectAltName must be exactly DNS:[0-9a-f-]+, is DNS:[0-9a-f-]+, DNS:evil\.example$/ },
      { node: 'worker-g', csr: (id) => opensslCsr(work, id, `DNS:${id}`, 1024), reason: /^RSA key of 1024 bits is too weak \(need at least 2048\)$/ },
    ];
    for (const c of cases) {
      const id = randomUUID();
      // With the CN check at the end for the forged one: its CN is not this node's, but the signature is checked first.
      await assert.rejects(
        enroll({ store: h.store, stateDir: h.stateDir, node: c.node, systemId: id, csrPem: c.csr(id), outDir: path.join(work, c.node), timeoutMs: 30_000 }),
        (err: unknown) => err instanceof EnrollmentRefused && c.reason.test(err.reason),
        c.node,
      );
      const rec = (await h.store.get('csrs', c.node))!.value;
      assert.equal(rec.status, 'denied', c.node);
      assert.match(rec.reason!, c.reason, c.node);
      assert.equal(await h.store.get('certificates', c.node), undefined, `${c.node}: nothing signed`);
      await assert.rejects(readFile(path.join(work, c.node, CERT_FILE)), /ENOENT/);
    }
    assert.deepEqual((await h.store.list('certificates')).map((e) => e.key), ['worker-a']);
  } finally {
    await h.done();
    await rm(work, { recursive: true, force: true });
  }
});

test('two nodes claiming one system-id: the second is refused', async () => {
  const h = await startOperator();
  try {
    const a = await enroll({ store: h.store, stateDir: h.stateDir, node: 'n1', keyAlgorithm: 'ecdsa', timeoutMs: 30_000 });
    await assert.rejects(
      enroll({ store: h.store, stateDir: h.stateDir, node: 'n2', systemId: a.identity.systemId, keyAlgorithm: 'ecdsa', timeoutMs: 30_000 }),
      (err: unknown) => err instanceof EnrollmentRefused && err.reason === `system-id ${a.identity.systemId} is also claimed by node n1`,
    );
  } finally {
    await h.done();
  }
});
