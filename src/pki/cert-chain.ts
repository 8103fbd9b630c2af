import { X509Certificate } from 'node:crypto';

/**
 * Certificate checks made with Node's own X.509 code (OpenSSL underneath), independent of the
 * library that made the certificates: fingerprints, PEM bundles, chains. What the agents need of
 * certificates lives here, so that they never load that library (cert-info.ts, ca.ts, csr.ts).
 */

export function fingerprintOf(pem: string): string {
  return new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();
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
