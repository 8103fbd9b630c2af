import { KeyObject, sign } from 'node:crypto';
import { encodeOid, encodeSmallInt, tlv, TAG_BIT_STRING, TAG_OCTET_STRING, TAG_SEQUENCE, TAG_SET } from '../ike/auth/der.js';
import { encodeDn, parseDnString } from '../ike/auth/dn.js';
import { encodeSigAlg } from '../ike/auth/sig-alg.js';
import { OID_EXTENSION_REQUEST, OID_SUBJECT_ALT_NAME } from '../ike/auth/x509-oids.js';
import type { KeyPair } from './keys.js';

/**
 * A node's PKCS#10 request (RFC 2986), written with our small DER writer and Node's signer. The
 * agent makes one at every enrollment and renewal; doing it without a general X.509 library keeps
 * that library (and its ASN.1 schemas, ~11 MB of RSS) out of every agent. The operator still
 * checks requests with the library (csr.ts checkNodeCsr), so what is written here is read back
 * by an independent decoder.
 */

/** GeneralName dNSName: [2] IMPLICIT IA5String. */
const GN_DNS = 0x82;
/** CertificationRequestInfo.attributes: [0] IMPLICIT SET OF Attribute. */
const ATTRIBUTES = 0xa0;

/** The subject a node puts in its CSR: like OpenShift's (`O=ovnkubernetes`), CN = system-id. */
export function nodeSubject(systemId: string): string {
  return `O=overlay-ipsec, OU=ovn-ipsec, CN=${systemId}`;
}

function pem(label: string, der: Buffer): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`;
}

/** A PKCS#10 request for a node key: CN = system-id, SAN DNS:<system-id>; PEM with a final newline. */
export function createNodeCsr(keys: KeyPair, systemId: string): string {
  const name = encodeDn(parseDnString(nodeSubject(systemId)));
  const spki = KeyObject.from(keys.publicKey).export({ format: 'der', type: 'spki' });
  const san = tlv(TAG_SEQUENCE, tlv(GN_DNS, Buffer.from(systemId, 'ascii')));
  const extensions = tlv(TAG_SEQUENCE, tlv(TAG_SEQUENCE, encodeOid(OID_SUBJECT_ALT_NAME), tlv(TAG_OCTET_STRING, san)));
  const attributes = tlv(ATTRIBUTES, tlv(TAG_SEQUENCE, encodeOid(OID_EXTENSION_REQUEST), tlv(TAG_SET, extensions)));
  const info = tlv(TAG_SEQUENCE, encodeSmallInt(0), name, spki, attributes);
  // ECDSA signatures in X.509 are the DER Ecdsa-Sig-Value, Node's default encoding; RSA is PKCS#1 v1.5.
  const algorithm = encodeSigAlg({ kind: keys.algorithm === 'ecdsa' ? 'ecdsa' : 'rsa-pkcs1', hash: 'sha256' });
  const signature = sign('sha256', info, KeyObject.from(keys.privateKey));
  const csr = tlv(TAG_SEQUENCE, info, algorithm, tlv(TAG_BIT_STRING, Buffer.from([0]), signature));
  return pem('CERTIFICATE REQUEST', csr);
}
