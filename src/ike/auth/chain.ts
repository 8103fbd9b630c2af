import { createHash } from 'node:crypto';
import { type CertInfo, parseCertificate } from './cert.js';
import { ID_DER_ASN1_DN, ID_FQDN, ID_IPV4_ADDR, ID_IPV6_ADDR, ID_KEY_ID, ID_RFC822_ADDR } from './constants.js';
import { TAG_BIT_STRING, readChildren, readSingle } from './der.js';
import { decodeDn, dnEquals } from './dn.js';
import type { IkeId } from './id.js';
import { addressBytes } from '../../wire/address.js';

export type ChainResult = { ok: true; endEntity: CertInfo; path: CertInfo[] } | { ok: false; reason: string };

/** How many CA certificates (intermediates plus anchor) a path may hold. */
const MAX_PATH = 8;

/** keyUsage bits (RFC 5280 §4.2.1.3) as flags: bit n of the BIT STRING is 1 << n (cert-fields.ts). */
const KU_DIGITAL_SIGNATURE = 1;
const KU_NON_REPUDIATION = 2;
const KU_KEY_CERT_SIGN = 32;

function describe(c: CertInfo): string {
  return `"${c.subjectText}"`;
}

/** Why `c` is not valid at `now` (before notBefore or after notAfter), or null. */
export function validityProblem(c: CertInfo, now: Date): string | null {
  if (now.getTime() < c.notBefore.getTime()) return `certificate ${describe(c)} is not valid before ${c.notBefore.toISOString()}`;
  if (now.getTime() > c.notAfter.getTime()) return `certificate ${describe(c)} expired on ${c.notAfter.toISOString()}`;
  return null;
}

function signedBy(child: CertInfo, issuer: CertInfo): boolean {
  try {
    return child.node.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function caProblem(ca: CertInfo, intermediatesBelow: number): string | null {
  if (!ca.isCa) return `certificate ${describe(ca)} is used as a CA but has no basicConstraints cA=TRUE`;
  if (ca.keyUsage !== undefined && !(ca.keyUsage & KU_KEY_CERT_SIGN)) {
    return `CA certificate ${describe(ca)} lacks the keyCertSign key usage`;
  }
  if (ca.pathLen !== undefined && intermediatesBelow > ca.pathLen) {
    return `CA certificate ${describe(ca)} allows a path length of ${ca.pathLen}, the chain has ${intermediatesBelow} intermediates below it`;
  }
  return null;
}

/**
 * Validates the peer's certificates (end entity first, then intermediates in any order) up to one
 * of the trust anchors: every signature verified, every certificate within its validity at `now`,
 * CAs with basicConstraints cA (and keyCertSign, pathLenConstraint when present).
 */
export function validateChain(peerCerts: Buffer[], anchors: CertInfo[], now: Date): ChainResult {
  return validateChainWith(peerCerts, anchors, now, parseCertificate);
}

/** validateChain with the certificate parser given (a cache's, see chain-cache.ts). */
export function validateChainWith(peerCerts: Buffer[], anchors: CertInfo[], now: Date, parse: (der: Buffer) => CertInfo): ChainResult {
  if (peerCerts.length === 0) return { ok: false, reason: 'peer sent no certificate' };
  const parsed: CertInfo[] = [];
  for (const [i, der] of peerCerts.entries()) {
    try {
      parsed.push(parse(der));
    } catch (e) {
      return { ok: false, reason: `peer certificate ${i + 1}: ${(e as Error).message}` };
    }
  }
  const ee = parsed[0]!;
  const eeTime = validityProblem(ee, now);
  if (eeTime) return { ok: false, reason: eeTime };
  if (ee.keyUsage !== undefined && !(ee.keyUsage & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION))) {
    return { ok: false, reason: `certificate ${describe(ee)} key usage does not allow digital signatures` };
  }
  const intermediates = parsed.slice(1);
  const path: CertInfo[] = [ee];
  let current = ee;
  const used = new Set<CertInfo>();
  for (let depth = 0; depth < MAX_PATH; depth++) {
    const intermediatesBelow = path.length - 1;
    // A configured CA ends the path.
    const anchorsNamed = anchors.filter((a) => dnEquals(a.subject, current.issuer));
    const anchor = anchorsNamed.find((a) => signedBy(current, a));
    if (anchor) {
      const p = caProblem(anchor, intermediatesBelow) ?? validityProblem(anchor, now);
      if (p) return { ok: false, reason: p };
      path.push(anchor);
      return { ok: true, endEntity: ee, path };
    }
    const next = intermediates.find((c) => !used.has(c) && dnEquals(c.subject, current.issuer) && signedBy(current, c));
    if (!next) {
      if (anchorsNamed.length > 0) {
        return { ok: false, reason: `signature of certificate ${describe(current)} does not verify with the trusted CA "${current.issuerText}": not issued by a trusted CA` };
      }
      return { ok: false, reason: `certificate ${describe(current)} is not issued by a trusted CA (issuer "${current.issuerText}")` };
    }
    const p = caProblem(next, intermediatesBelow) ?? validityProblem(next, now);
    if (p) return { ok: false, reason: p };
    used.add(next);
    path.push(next);
    current = next;
  }
  return { ok: false, reason: `certificate chain longer than ${MAX_PATH}: not issued by a trusted CA` };
}

/** SHA-1 of the subjectPublicKey BIT STRING contents (RFC 5280 §4.2.1.2 method 1). */
function publicKeySha1(cert: CertInfo): Buffer | null {
  try {
    const [, bits] = readChildren(readSingle(cert.spkiDer).value);
    if (!bits || bits.tag !== TAG_BIT_STRING) return null;
    return createHash('sha1').update(bits.value.subarray(1)).digest();
  } catch {
    return null;
  }
}

/**
 * Whether the certificate names the id: FQDN as a SAN dNSName, RFC822 as a SAN rfc822Name, an
 * address as a SAN iPAddress, a DN as the subject, a KEY_ID as the subject key identifier.
 */
export function certNamesId(cert: CertInfo, id: IkeId): boolean {
  switch (id.type) {
    case ID_FQDN: {
      const name = id.data.toString('utf8').toLowerCase();
      return cert.sanDns.some((d) => d.toLowerCase() === name);
    }
    case ID_RFC822_ADDR: {
      const name = id.data.toString('utf8').toLowerCase();
      return cert.sanEmail.some((d) => d.toLowerCase() === name);
    }
    case ID_IPV4_ADDR:
    case ID_IPV6_ADDR:
      return cert.sanIp.some((ip) => addressBytes(ip)?.equals(id.data) ?? false);
    case ID_DER_ASN1_DN:
      try {
        return dnEquals(cert.subject, decodeDn(id.data));
      } catch {
        return false;
      }
    case ID_KEY_ID:
      return (cert.subjectKeyId?.equals(id.data) ?? false) || (publicKeySha1(cert)?.equals(id.data) ?? false);
    default:
      return false;
  }
}
