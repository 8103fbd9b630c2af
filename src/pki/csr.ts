import { x509 } from './provider.js';
import { OID_SUBJECT_ALT_NAME } from '../ike/auth/x509-oids.js';

export type CsrCheck =
  | { ok: true; csr: x509.Pkcs10CertificateRequest; keyAlgorithm: 'rsa' | 'ecdsa' }
  | { ok: false; reason: string };

/**
 * Everything the operator demands of a node's CSR before signing it: it parses, its signature
 * verifies with its own key, the key is RSA ≥ 2048 or ECDSA P-256, and both the CN and the SAN
 * name exactly `systemId`, the system-id the submitting node registered.
 * `owners` maps other nodes' system-ids to their names, for a precise refusal.
 */
export async function checkNodeCsr(text: string, systemId: string, owners: ReadonlyMap<string, string> = new Map()): Promise<CsrCheck> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    if (!/-----BEGIN (NEW )?CERTIFICATE REQUEST-----/.test(text)) return { ok: false, reason: 'not a PEM certificate request (no BEGIN CERTIFICATE REQUEST block)' };
    // Older tools label the block NEW CERTIFICATE REQUEST; the contents are the same.
    csr = new x509.Pkcs10CertificateRequest(text.replace(/NEW CERTIFICATE REQUEST/g, 'CERTIFICATE REQUEST'));
  } catch (err) {
    return { ok: false, reason: `not a valid PKCS#10 certificate request: ${(err as Error).message}` };
  }
  let keyAlgorithm: 'rsa' | 'ecdsa';
  const alg = csr.publicKey.algorithm as { name: string; modulusLength?: number; namedCurve?: string };
  if (alg.name === 'RSASSA-PKCS1-v1_5' || alg.name === 'RSA-PSS' || alg.name === 'RSA-OAEP') {
    if ((alg.modulusLength ?? 0) < 2048) return { ok: false, reason: `RSA key of ${alg.modulusLength} bits is too weak (need at least 2048)` };
    keyAlgorithm = 'rsa';
  } else if (alg.name === 'ECDSA' && alg.namedCurve === 'P-256') keyAlgorithm = 'ecdsa';
  else return { ok: false, reason: `unsupported key ${alg.name}${alg.namedCurve ? ` ${alg.namedCurve}` : ''} (use RSA-2048 or ECDSA P-256)` };
  let good = false;
  try {
    good = await csr.verify();
  } catch (err) {
    return { ok: false, reason: `CSR signature cannot be checked: ${(err as Error).message}` };
  }
  if (!good) return { ok: false, reason: 'CSR signature does not verify with the key it carries (altered or forged request)' };

  const cns = csr.subjectName.getField('CN');
  if (cns.length !== 1) return { ok: false, reason: `CSR subject must have exactly one CN, has ${cns.length} (${csr.subject})` };
  const cn = cns[0]!;
  if (cn !== systemId) {
    const other = owners.get(cn);
    return { ok: false, reason: other ? `CSR CN ${cn} is the system-id of node ${other}, not of this node (${systemId})` : `CSR CN ${cn} is not this node's system-id ${systemId}` };
  }
  const sanRaw = csr.getExtension(OID_SUBJECT_ALT_NAME);
  const sanExt = sanRaw ? new x509.SubjectAlternativeNameExtension(sanRaw.rawData) : undefined;
  if (!sanExt) return { ok: false, reason: `CSR has no subjectAltName; it must carry DNS:${systemId}` };
  const names = sanExt.names.items.map((n: { type: string; value: string }) => `${n.type}:${n.value}`);
  if (names.length !== 1 || names[0] !== `dns:${systemId}`)
    return { ok: false, reason: `CSR subjectAltName must be exactly DNS:${systemId}, is ${names.map((n) => n.replace(/^dns:/, 'DNS:')).join(', ')}` };
  return { ok: true, csr, keyAlgorithm };
}
