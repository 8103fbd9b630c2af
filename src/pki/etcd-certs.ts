import { x509 } from './provider.js';
import { generateKeyPair, keyPairFromPem, privateKeyToPem, signatureAlgorithm, type KeyPair } from './keys.js';
import { randomSerial } from './ca.js';
import { addYears, truncateToSecond } from './time.js';

/**
 * The etcd side's certificates, from an etcd CA that is not the cluster's IPsec CA: the IPsec CA
 * signs what nodes present to each other, the etcd CA what clients and members present to etcd.
 * Keeping them apart means a node certificate never opens etcd and an etcd credential never
 * authenticates an IKE peer. etcd takes a client's user name from its certificate's CN
 * (`--client-cert-auth` with auth enabled), so issuing a client certificate is issuing an identity.
 * All keys are ECDSA P-256.
 */

export const ETCD_CA_YEARS = 10;
/** Member (server + peer) certificates: as long as the CA, capped by it. */
export const ETCD_MEMBER_YEARS = 10;

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

export interface EtcdCa {
  cert: x509.X509Certificate;
  certPem: string;
  keys: KeyPair;
}

export interface IssuedCert {
  certPem: string;
  keyPem: string;
  notAfter: Date;
}

export async function createEtcdCa(nowMs: number, name = 'overlay-ipsec etcd CA'): Promise<EtcdCa & { keyPem: string }> {
  const keys = await generateKeyPair('ecdsa');
  const notBefore = truncateToSecond(nowMs);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${name}@${Math.floor(notBefore.getTime() / 1000)}, O=overlay-ipsec`,
    notBefore,
    notAfter: addYears(notBefore, ETCD_CA_YEARS),
    keys: { privateKey: keys.privateKey, publicKey: keys.publicKey } as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
    signingAlgorithm: signatureAlgorithm('ecdsa'),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
    ],
  });
  return { cert, certPem: cert.toString('pem') + '\n', keys, keyPem: await privateKeyToPem(keys.privateKey) };
}

export async function loadEtcdCa(certPem: string, keyPem: string): Promise<EtcdCa> {
  return { cert: new x509.X509Certificate(certPem), certPem, keys: await keyPairFromPem(keyPem) };
}

/** Characters a CN may hold here: etcd user names, member names, no quoting needed in a DN. */
function checkCommonName(cn: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/.test(cn)) throw new Error(`"${cn}" cannot be a certificate CN (letters, digits, '.', '_', '/', '-')`);
  return cn;
}

async function issue(ca: EtcdCa, o: { cn: string; notBefore: Date; notAfter: Date; ekus: string[]; ips?: string[]; dns?: string[] }): Promise<IssuedCert> {
  const keys = await generateKeyPair('ecdsa');
  const notAfter = o.notAfter > ca.cert.notAfter ? ca.cert.notAfter : o.notAfter;
  const names = [...(o.dns ?? []).map((value) => ({ type: 'dns' as const, value })), ...(o.ips ?? []).map((value) => ({ type: 'ip' as const, value }))];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${checkCommonName(o.cn)}, O=overlay-ipsec`,
    issuer: ca.cert.subjectName,
    notBefore: o.notBefore,
    notAfter,
    publicKey: keys.publicKey as never,
    signingKey: ca.keys.privateKey as never,
    signingAlgorithm: signatureAlgorithm('ecdsa'),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension(o.ekus, false),
      ...(names.length ? [new x509.SubjectAlternativeNameExtension(names)] : []),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await privateKeyToPem(keys.privateKey), notAfter };
}

/**
 * A member's certificate, used both as its server certificate (clients check the address they
 * dialled against the SANs) and as its peer certificate (members authenticate each other).
 */
export async function issueMemberCert(ca: EtcdCa, member: string, ips: readonly string[], nowMs: number): Promise<IssuedCert> {
  const notBefore = truncateToSecond(nowMs);
  return issue(ca, { cn: member, notBefore, notAfter: addYears(notBefore, ETCD_MEMBER_YEARS), ekus: [SERVER_AUTH, CLIENT_AUTH], ips: [...ips, '127.0.0.1'], dns: ['localhost'] });
}

/** A client certificate: its CN is the etcd user it authenticates as, until `notAfter`. */
export async function issueClientCert(ca: EtcdCa, user: string, nowMs: number, notAfter: Date): Promise<IssuedCert> {
  const notBefore = truncateToSecond(nowMs - 60_000);
  if (notAfter.getTime() <= nowMs) throw new Error(`a certificate for ${user} would already have expired (${notAfter.toISOString()})`);
  return issue(ca, { cn: user, notBefore, notAfter, ekus: [CLIENT_AUTH] });
}

/** The CN of a certificate (the etcd user it stands for), and when it ends. */
export function certIdentity(certPem: string): { cn: string; notAfter: Date; issuer: string } {
  const c = new x509.X509Certificate(certPem);
  const cn = c.subjectName.getField('CN')[0];
  if (!cn) throw new Error('the certificate has no CN');
  return { cn, notAfter: c.notAfter, issuer: c.issuer };
}
