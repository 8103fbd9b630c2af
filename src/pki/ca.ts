import { randomBytes } from 'node:crypto';
import { x509 } from './provider.js';
import { generateKeyPair, privateKeyToPem, signatureAlgorithm, type KeyAlgorithm, type KeyPair } from './keys.js';
import { addYears, truncateToSecond } from './time.js';
import { CA_YEARS, NODE_CERT_YEARS } from './lifetimes.js';

export const NODE_EKUS = ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.17'];

export interface CertificateAuthority {
  cert: x509.X509Certificate;
  certPem: string;
  keys: KeyPair;
}

/** A positive 128-bit serial (RFC 5280 allows up to 20 octets; the top bit clear keeps it positive). */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b.toString('hex');
}

/**
 * The CA subject: `CN=ovn-ipsec-ca@<unix seconds>, O=overlay-ipsec` — the OpenShift signer
 * style (`…-signer@<timestamp>`), so the CAs of a rollover have different names and verifiers
 * that look issuers up by name never confuse them.
 */
export function caSubject(now: Date): string {
  return `CN=ovn-ipsec-ca@${Math.floor(now.getTime() / 1000)}, O=overlay-ipsec`;
}

export async function createCa(nowMs: number, algorithm: KeyAlgorithm = 'rsa'): Promise<CertificateAuthority & { keyPem: string }> {
  const keys = await generateKeyPair(algorithm);
  const notBefore = truncateToSecond(nowMs);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: caSubject(notBefore),
    notBefore,
    notAfter: addYears(notBefore, CA_YEARS),
    keys: { privateKey: keys.privateKey, publicKey: keys.publicKey } as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
    signingAlgorithm: signatureAlgorithm(algorithm),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
    ],
  });
  return { cert, certPem: cert.toString('pem') + '\n', keys, keyPem: await privateKeyToPem(keys.privateKey) };
}

/**
 * Signs a node certificate for a CSR that `checkNodeCsr` accepted: the CSR's subject and key,
 * SAN DNS:<system-id>, 5 years (never beyond the CA's own end), EKU serverAuth + clientAuth +
 * ipsecIKE, keyUsage digitalSignature (+ keyEncipherment for RSA keys).
 */
export async function signNodeCertificate(
  ca: CertificateAuthority,
  csr: x509.Pkcs10CertificateRequest,
  systemId: string,
  keyAlgorithm: KeyAlgorithm,
  nowMs: number,
): Promise<{ cert: x509.X509Certificate; pem: string }> {
  const notBefore = truncateToSecond(nowMs);
  let notAfter = addYears(notBefore, NODE_CERT_YEARS);
  if (notAfter > ca.cert.notAfter) notAfter = ca.cert.notAfter;
  const usage = x509.KeyUsageFlags.digitalSignature | (keyAlgorithm === 'rsa' ? x509.KeyUsageFlags.keyEncipherment : 0);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: csr.subjectName,
    issuer: ca.cert.subjectName,
    notBefore,
    notAfter,
    publicKey: csr.publicKey,
    signingKey: ca.keys.privateKey as never,
    signingAlgorithm: signatureAlgorithm(ca.keys.algorithm),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(usage, true),
      new x509.ExtendedKeyUsageExtension(NODE_EKUS, false),
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: systemId }]),
      await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
    ],
  });
  return { cert, pem: cert.toString('pem') + '\n' };
}
