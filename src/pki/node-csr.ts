import { KeyObject, sign } from 'node:crypto';
import { encodeOid, encodeSmallInt, tlv, TAG_BIT_STRING, TAG_NULL, TAG_OCTET_STRING, TAG_SEQUENCE, TAG_SET, TAG_UTF8_STRING } from '../ike/auth/der.js';
import type { KeyPair } from './keys.js';

/**
 * A node's PKCS#10 request (RFC 2986), written with our small DER writer and Node's signer. The
 * agent makes one at every enrollment and renewal; doing it without a general X.509 library keeps
 * that library (and its ASN.1 schemas, ~11 MB of RSS) out of every agent. The operator still
 * checks requests with the library (csr.ts checkNodeCsr), so what is written here is read back
 * by an independent decoder.
 */

const OID_O = '2.5.4.10';
const OID_OU = '2.5.4.11';
const OID_CN = '2.5.4.3';
const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const OID_RSA_SHA256 = '1.2.840.113549.1.1.11';
/** GeneralName dNSName: [2] IMPLICIT IA5String. */
const GN_DNS = 0x82;
/** CertificationRequestInfo.attributes: [0] IMPLICIT SET OF Attribute. */
const ATTRIBUTES = 0xa0;

/** The subject a node puts in its CSR: like OpenShift's (`O=ovnkubernetes`), CN = system-id. */
export function nodeSubject(systemId: string): string {
  return `O=overlay-ipsec, OU=ovn-ipsec, CN=${systemId}`;
}

function rdn(oid: string, value: string): Buffer {
  return tlv(TAG_SET, tlv(TAG_SEQUENCE, encodeOid(oid), tlv(TAG_UTF8_STRING, Buffer.from(value, 'utf8'))));
}

function pem(label: string, der: Buffer): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`;
}

/** A PKCS#10 request for a node key: CN = system-id, SAN DNS:<system-id>; PEM with a final newline. */
export function createNodeCsr(keys: KeyPair, systemId: string): string {
  const name = tlv(TAG_SEQUENCE, rdn(OID_O, 'overlay-ipsec'), rdn(OID_OU, 'ovn-ipsec'), rdn(OID_CN, systemId));
  const spki = KeyObject.from(keys.publicKey).export({ format: 'der', type: 'spki' });
  const san = tlv(TAG_SEQUENCE, tlv(GN_DNS, Buffer.from(systemId, 'ascii')));
  const extensions = tlv(TAG_SEQUENCE, tlv(TAG_SEQUENCE, encodeOid(OID_SUBJECT_ALT_NAME), tlv(TAG_OCTET_STRING, san)));
  const attributes = tlv(ATTRIBUTES, tlv(TAG_SEQUENCE, encodeOid(OID_EXTENSION_REQUEST), tlv(TAG_SET, extensions)));
  const info = tlv(TAG_SEQUENCE, encodeSmallInt(0), name, spki, attributes);
  // ECDSA signatures in X.509 are the DER Ecdsa-Sig-Value, Node's default encoding; RSA is PKCS#1 v1.5.
  const algorithm = keys.algorithm === 'ecdsa'
    ? tlv(TAG_SEQUENCE, encodeOid(OID_ECDSA_SHA256))
    : tlv(TAG_SEQUENCE, encodeOid(OID_RSA_SHA256), tlv(TAG_NULL));
  const signature = sign('sha256', info, KeyObject.from(keys.privateKey));
  const csr = tlv(TAG_SEQUENCE, info, algorithm, tlv(TAG_BIT_STRING, Buffer.from([0]), signature));
  return pem('CERTIFICATE REQUEST', csr);
}
