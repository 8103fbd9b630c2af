import 'reflect-metadata';
import { X509Certificate as NodeX509Certificate, createHash, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { TAG_SEQUENCE, readChildren, readSingle } from './der.js';
import { type Rdn, decodeDn, dnToString } from './dn.js';

/** The facts about one X.509 certificate that IKE authentication needs, parsed once. */
export interface CertInfo {
  der: Buffer;
  /** node:crypto's view: synchronous signature checks and the public key. */
  node: NodeX509Certificate;
  subjectDer: Buffer;
  issuerDer: Buffer;
  subject: Rdn[];
  issuer: Rdn[];
  subjectText: string;
  issuerText: string;
  notBefore: Date;
  notAfter: Date;
  /** basicConstraints cA. */
  isCa: boolean;
  pathLen: number | undefined;
  /** keyUsage bit flags (@peculiar/x509 KeyUsageFlags), undefined when the extension is absent. */
  keyUsage: number | undefined;
  sanDns: string[];
  sanIp: string[];
  sanEmail: string[];
  /** The certificate's SubjectPublicKeyInfo exactly as encoded in it. */
  spkiDer: Buffer;
  publicKey: KeyObject;
  subjectKeyId: Buffer | undefined;
}

export class CertParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CertParseError';
  }
}

/** All certificates in a PEM text, as DER, in order. */
export function pemToDerList(pem: string): Buffer[] {
  const out: Buffer[] = [];
  const re = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;
  for (let m = re.exec(pem); m; m = re.exec(pem)) out.push(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
  return out;
}

/** Issuer, subject and SubjectPublicKeyInfo as they are encoded in the TBSCertificate. */
function rawTbsFields(der: Buffer): { issuer: Buffer; subject: Buffer; spki: Buffer } {
  const cert = readSingle(der);
  if (cert.tag !== TAG_SEQUENCE) throw new CertParseError('certificate is not a SEQUENCE');
  const [tbs] = readChildren(cert.value);
  if (!tbs || tbs.tag !== TAG_SEQUENCE) throw new CertParseError('no TBSCertificate');
  const f = readChildren(tbs.value);
  const base = f[0]?.tag === 0xa0 ? 1 : 0; // [0] EXPLICIT version is optional (v1)
  const issuer = f[base + 2];
  const subject = f[base + 4];
  const spki = f[base + 5];
  if (!issuer || !subject || !spki) throw new CertParseError('TBSCertificate is missing fields');
  return { issuer: Buffer.from(issuer.raw), subject: Buffer.from(subject.raw), spki: Buffer.from(spki.raw) };
}

/** Parses a DER certificate. Throws CertParseError with the reason on malformed input. */
export function parseCertificate(der: Buffer): CertInfo {
  try {
    const node = new NodeX509Certificate(der);
    const px = new x509.X509Certificate(der);
    const raw = rawTbsFields(der);
    const bc = px.getExtension(x509.BasicConstraintsExtension);
    const ku = px.getExtension(x509.KeyUsagesExtension);
    const ski = px.getExtension(x509.SubjectKeyIdentifierExtension);
    const san = px.getExtension(x509.SubjectAlternativeNameExtension);
    const names = san?.names.items ?? [];
    const subject = decodeDn(raw.subject);
    const issuer = decodeDn(raw.issuer);
    return {
      der: Buffer.from(der),
      node,
      subjectDer: raw.subject,
      issuerDer: raw.issuer,
      subject,
      issuer,
      subjectText: dnToString(subject),
      issuerText: dnToString(issuer),
      notBefore: px.notBefore,
      notAfter: px.notAfter,
      isCa: bc?.ca ?? false,
      pathLen: bc?.pathLength,
      keyUsage: ku ? ku.usages : undefined,
      sanDns: names.filter((n) => n.type === 'dns').map((n) => n.value),
      sanIp: names.filter((n) => n.type === 'ip').map((n) => n.value),
      sanEmail: names.filter((n) => n.type === 'email').map((n) => n.value),
      spkiDer: raw.spki,
      publicKey: node.publicKey,
      subjectKeyId: ski ? Buffer.from(ski.keyId, 'hex') : undefined,
    };
  } catch (e) {
    if (e instanceof CertParseError) throw e;
    throw new CertParseError(`unparsable certificate: ${(e as Error).message}`);
  }
}

export function parseCertificatePem(pem: string, what: string): CertInfo[] {
  const ders = pemToDerList(pem);
  if (ders.length === 0) throw new CertParseError(`${what}: no PEM CERTIFICATE block`);
  return ders.map(parseCertificate);
}

/** SHA-1 of the certificate's SubjectPublicKeyInfo: the CERTREQ entry for a CA (RFC 7296 §3.7). */
export function spkiSha1(cert: CertInfo): Buffer {
  return createHash('sha1').update(cert.spkiDer).digest();
}
