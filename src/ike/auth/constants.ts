/** IKEv2 identification types (RFC 7296 §3.5) this module understands. */
export const ID_IPV4_ADDR = 1;
export const ID_FQDN = 2;
export const ID_RFC822_ADDR = 3;
export const ID_IPV6_ADDR = 5;
export const ID_DER_ASN1_DN = 9;
export const ID_KEY_ID = 11;

/** IKEv2 authentication methods (RFC 7296 §3.8, RFC 4754, RFC 7427). */
export const AUTH_RSA_SIG = 1;
export const AUTH_SHARED_KEY_MIC = 2;
export const AUTH_ECDSA_256 = 9;
export const AUTH_ECDSA_384 = 10;
export const AUTH_ECDSA_521 = 11;
export const AUTH_DIGITAL_SIGNATURE = 14;

/** SIGNATURE_HASH_ALGORITHMS notify values (RFC 7427 §4, IANA "IKEv2 Hash Algorithms"). */
export const HASH_SHA1 = 1;
export const HASH_SHA2_256 = 2;
export const HASH_SHA2_384 = 3;
export const HASH_SHA2_512 = 4;

/** The hash algorithms we announce in SIGNATURE_HASH_ALGORITHMS and accept in method 14. */
export const SUPPORTED_SIGNATURE_HASHES: readonly number[] = [HASH_SHA2_256, HASH_SHA2_384, HASH_SHA2_512];

export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

export const HASH_NAME_BY_ID: Readonly<Record<number, HashName>> = {
  [HASH_SHA1]: 'sha1',
  [HASH_SHA2_256]: 'sha256',
  [HASH_SHA2_384]: 'sha384',
  [HASH_SHA2_512]: 'sha512',
};

export const AUTH_METHOD_NAMES: Readonly<Record<number, string>> = {
  [AUTH_RSA_SIG]: 'RSA signature',
  [AUTH_SHARED_KEY_MIC]: 'pre-shared key',
  [AUTH_ECDSA_256]: 'ECDSA SHA-256 P-256',
  [AUTH_ECDSA_384]: 'ECDSA SHA-384 P-384',
  [AUTH_ECDSA_521]: 'ECDSA SHA-512 P-521',
  [AUTH_DIGITAL_SIGNATURE]: 'digital signature (RFC 7427)',
};

export function authMethodName(method: number): string {
  return AUTH_METHOD_NAMES[method] ?? `auth method ${method}`;
}
