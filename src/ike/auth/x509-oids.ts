/**
 * The X.509 (RFC 5280) and PKCS#9 (RFC 2985) object identifiers our own DER code reads and
 * writes, in one table: the certificate reader (cert-fields.ts), the node's CSR writer
 * (pki/node-csr.ts) and the operator's CSR check (pki/csr.ts) name the same extensions.
 * Names and signature algorithms have their tables in dn.ts and sig-alg.ts.
 */
export const OID_SUBJECT_KEY_ID = '2.5.29.14';
export const OID_KEY_USAGE = '2.5.29.15';
export const OID_SUBJECT_ALT_NAME = '2.5.29.17';
export const OID_BASIC_CONSTRAINTS = '2.5.29.19';
/** PKCS#9 extensionRequest: the attribute of a CSR that carries the extensions asked for. */
export const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
