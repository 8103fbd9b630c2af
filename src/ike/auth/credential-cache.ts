import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { type CertInfo, parseCertificatePem } from './cert.js';
import { Lru } from './lru.js';
import { keyKind } from './signature.js';

/**
 * Parsed forms of the PEM texts connections are configured with. A node with 1000 peers has 1000
 * connections naming the same certificate, key and CA bundle; parsing them once keeps one copy
 * (an X509Certificate and a KeyObject hold native memory) instead of one per peer. Keyed by the
 * SHA-256 of the text, bounded, process-wide: the parsed form depends on nothing but the text.
 * Failures are not remembered (the caller reports them).
 */
const certs = new Lru<CertInfo[]>(64);
const keys = new Lru<KeyObject>(16);

function hash(s: string): string {
  return createHash('sha256').update(s).digest('base64');
}

/** parseCertificatePem, remembered. Throws CertParseError. */
export function certsFromPem(pem: string, what: string): CertInfo[] {
  const k = hash(pem);
  const hit = certs.get(k);
  if (hit) return hit;
  const parsed = parseCertificatePem(pem, what);
  certs.set(k, parsed);
  return parsed;
}

/** A private key usable for IKE signatures (RSA or ECDSA), remembered. Throws on other keys. */
export function privateKeyFromPem(pem: string): KeyObject {
  const k = hash(pem);
  const hit = keys.get(k);
  if (hit) return hit;
  const key = createPrivateKey(pem);
  keyKind(key);
  keys.set(k, key);
  return key;
}

const pairs = new Lru<true>(64);

/** Whether the private key belongs to the certificate (remembered when it does). */
export function keyMatchesCert(keyPem: string, key: KeyObject, cert: CertInfo): boolean {
  const k = `${hash(keyPem)}|${hash(cert.der.toString('base64'))}`;
  if (pairs.get(k)) return true;
  const pubFromKey = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const ok = pubFromKey.equals(cert.publicKey.export({ type: 'spki', format: 'der' }));
  if (ok) pairs.set(k, true);
  return ok;
}
