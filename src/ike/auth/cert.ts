import { X509Certificate as NodeX509Certificate, createHash, type KeyObject } from 'node:crypto';
import { readTbsFields } from './cert-fields.js';
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
  /** keyUsage bit flags (digitalSignature = 1, nonRepudiation = 2, … keyCertSign = 32), undefined when the extension is absent. */
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

/** Parses a DER certificate. Throws CertParseError with the reason on malformed input. */
export function parseCertificate(der: Buffer): CertInfo {
  try {
    // node:crypto checks the whole encoding and gives the key and signature checks; our reader
    // gives the names, validity and the few extensions IKE looks at (see cert-fields.ts).
    const node = new NodeX509Certificate(der);
    const t = readTbsFields(der);
    const subject = decodeDn(t.subject);
    const issuer = decodeDn(t.issuer);
    return {
      der: Buffer.from(der),
      node,
      subjectDer: t.subject,
      issuerDer: t.issuer,
      subject,
      issuer,
      subjectText: dnToString(subject),
      issuerText: dnToString(issuer),
      notBefore: t.notBefore,
      notAfter: t.notAfter,
      isCa: t.isCa,
      pathLen: t.pathLen,
      keyUsage: t.keyUsage,
      sanDns: t.sanDns,
      sanIp: t.sanIp,
      sanEmail: t.sanEmail,
      spkiDer: t.spki,
      publicKey: node.publicKey,
      subjectKeyId: t.subjectKeyId,
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
