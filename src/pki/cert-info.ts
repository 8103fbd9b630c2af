import { x509 } from './provider.js';
import { fingerprintOf } from './cert-chain.js';

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
