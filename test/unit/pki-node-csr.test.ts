import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { generateKeyPair, type KeyAlgorithm } from '../../src/pki/keys.js';
import { createNodeCsr } from '../../src/pki/node-csr.js';
import { checkNodeCsr } from '../../src/pki/csr.js';

/** The request as openssl reads it (text form), after openssl checked its signature. */
function opensslReads(pem: string): string {
  return execFileSync('openssl', ['req', '-noout', '-verify', '-text'], { input: pem, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

for (const alg of ['ecdsa', 'rsa'] as KeyAlgorithm[]) {
  test(`a node CSR (${alg}) written by our DER writer is what the operator and openssl accept`, async () => {
    const systemId = randomUUID();
    const keys = await generateKeyPair(alg);
    const pem = createNodeCsr(keys, systemId);
    assert.match(pem, /^-----BEGIN CERTIFICATE REQUEST-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE REQUEST-----\n$/);
    const r = await checkNodeCsr(pem, systemId);
    assert.ok(r.ok, r.ok ? '' : r.reason);
    assert.equal(r.keyAlgorithm, alg);
    assert.equal(r.csr.subject, `O=overlay-ipsec, OU=ovn-ipsec, CN=${systemId}`);
    const text = opensslReads(pem);
    assert.match(text, new RegExp(`Subject: O ?= ?overlay-ipsec, OU ?= ?ovn-ipsec, CN ?= ?${systemId}`));
    assert.match(text, new RegExp(`DNS:${systemId}`));
    assert.match(text, alg === 'ecdsa' ? /ecdsa-with-SHA256/ : /sha256WithRSAEncryption/);
  });
}

test('a node CSR names only the system-id it was made for: another one is refused', async () => {
  const keys = await generateKeyPair('ecdsa');
  const pem = createNodeCsr(keys, randomUUID());
  const r = await checkNodeCsr(pem, randomUUID());
  assert.equal(r.ok, false);
});

test('a node CSR altered after signing does not verify', async () => {
  const systemId = randomUUID();
  const pem = createNodeCsr(await generateKeyPair('ecdsa'), systemId);
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\n/g, ''), 'base64');
  // The CN's last character, inside the signed part: flip it to another hex digit.
  const at = der.indexOf(Buffer.from(systemId)) + systemId.length - 1;
  der[at] = der[at] === 0x30 ? 0x31 : 0x30;
  const altered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE REQUEST-----\n`;
  const r = await checkNodeCsr(altered, systemId.slice(0, -1) + String.fromCharCode(der[at]!));
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.reason, /signature/);
});
