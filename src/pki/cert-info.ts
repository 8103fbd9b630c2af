import { X509Certificate } from 'node:crypto';
import { x509 } from './provider.js';

/** What the store and `pki show` say about a certificate. */
export interface CertInfo {
  subject: string;
  issuer: string;
  serial: string;
  /** SHA-256 of the DER certificate, lowercase hex without colons. */
  fingerprint: string;
  not_before: string;
  not_after: string;
}

export function fingerprintOf(pem: string): string {
  return new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();
}

export function certInfo(pem: string): CertInfo {
  const c = new x509.X509Certificate(pem);
  return {
    subject: c.subject,
    issuer: c.issuer,
    serial: c.serialNumber.toLowerCase(),
    fingerprint: fingerprintOf(pem),
    not_before: c.notBefore.toISOString(),
    not_after: c.notAfter.toISOString(),
  };
}

/** Splits a PEM bundle into its certificates. */
export function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)?.map((s) => (s.endsWith('\n') ? s : s + '\n')) ?? [];
}

/**
 * Does `certPem` chain to one of `trusted` (CA PEMs) and is it valid at `now`? Uses Node's own
 * X.509 code (OpenSSL underneath), independent of the library that made the certificates.
 */
export function verifiesAgainst(certPem: string, trusted: string[], now: number): boolean {
  const cert = new X509Certificate(certPem);
  const t = now;
  if (Date.parse(cert.validFrom) > t || Date.parse(cert.validTo) < t) return false;
  for (const caPem of trusted) {
    const ca = new X509Certificate(caPem);
    if (Date.parse(ca.validFrom) > t || Date.parse(ca.validTo) < t) continue;
    if (cert.checkIssued(ca) && cert.verify(ca.publicKey)) return true;
  }
  return false;
}
