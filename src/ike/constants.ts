/** IKEv2 protocol numbers (RFC 7296 §3 and the IANA "IKEv2 Parameters" registry). */

export const IKE_MAJOR_VERSION = 2;
export const IKE_HEADER_LENGTH = 28;
export const GENERIC_HEADER_LENGTH = 4;

export const ExchangeType = {
  IKE_SA_INIT: 34,
  IKE_AUTH: 35,
  CREATE_CHILD_SA: 36,
  INFORMATIONAL: 37,
} as const;
export type ExchangeTypeId = (typeof ExchangeType)[keyof typeof ExchangeType];

export const EXCHANGE_NAMES: Readonly<Record<number, string>> = {
  34: 'IKE_SA_INIT',
  35: 'IKE_AUTH',
  36: 'CREATE_CHILD_SA',
  37: 'INFORMATIONAL',
};

/** Header flags (§3.1). */
export const Flag = {
  INITIATOR: 0x08,
  VERSION: 0x10,
  RESPONSE: 0x20,
} as const;

export const PayloadType = {
  NONE: 0,
  SA: 33,
  KE: 34,
  IDi: 35,
  IDr: 36,
  CERT: 37,
  CERTREQ: 38,
  AUTH: 39,
  NONCE: 40,
  NOTIFY: 41,
  DELETE: 42,
  VENDOR: 43,
  TSi: 44,
  TSr: 45,
  SK: 46,
  CP: 47,
  EAP: 48,
  SKF: 53,
} as const;

export const PAYLOAD_NAMES: Readonly<Record<number, string>> = {
  33: 'SA', 34: 'KE', 35: 'IDi', 36: 'IDr', 37: 'CERT', 38: 'CERTREQ', 39: 'AUTH', 40: 'No', 41: 'N',
  42: 'D', 43: 'V', 44: 'TSi', 45: 'TSr', 46: 'SK', 47: 'CP', 48: 'EAP', 53: 'SKF',
};

export const ProtocolId = { IKE: 1, AH: 2, ESP: 3 } as const;

export const TransformType = { ENCR: 1, PRF: 2, INTEG: 3, DH: 4, ESN: 5 } as const;

export const Encr = { AES_CBC: 12, AES_GCM_8: 18, AES_GCM_12: 19, AES_GCM_16: 20 } as const;
export const Prf = { HMAC_SHA1: 2, HMAC_SHA2_256: 5, HMAC_SHA2_384: 6, HMAC_SHA2_512: 7 } as const;
export const Dh = { NONE: 0, MODP2048: 14, ECP256: 19, CURVE25519: 31 } as const;
export const Esn = { NO: 0, YES: 1 } as const;

/** Transform attribute type Key Length (TV format, AF bit set on the wire). */
export const ATTR_KEY_LENGTH = 14;

/** Notify message types: errors below 16384, status from 16384 (§3.10.1, IANA). */
export const Notify = {
  UNSUPPORTED_CRITICAL_PAYLOAD: 1,
  INVALID_IKE_SPI: 4,
  INVALID_MAJOR_VERSION: 5,
  INVALID_SYNTAX: 7,
  INVALID_MESSAGE_ID: 9,
  INVALID_SPI: 11,
  NO_PROPOSAL_CHOSEN: 14,
  INVALID_KE_PAYLOAD: 17,
  AUTHENTICATION_FAILED: 24,
  SINGLE_PAIR_REQUIRED: 34,
  NO_ADDITIONAL_SAS: 35,
  INTERNAL_ADDRESS_FAILURE: 36,
  FAILED_CP_REQUIRED: 37,
  TS_UNACCEPTABLE: 38,
  INVALID_SELECTORS: 39,
  TEMPORARY_FAILURE: 43,
  CHILD_SA_NOT_FOUND: 44,
  INITIAL_CONTACT: 16384,
  SET_WINDOW_SIZE: 16385,
  ADDITIONAL_TS_POSSIBLE: 16386,
  IPCOMP_SUPPORTED: 16387,
  NAT_DETECTION_SOURCE_IP: 16388,
  NAT_DETECTION_DESTINATION_IP: 16389,
  COOKIE: 16390,
  USE_TRANSPORT_MODE: 16391,
  REKEY_SA: 16393,
  ESP_TFC_PADDING_NOT_SUPPORTED: 16394,
  NON_FIRST_FRAGMENTS_ALSO: 16395,
  MOBIKE_SUPPORTED: 16396,
  MULTIPLE_AUTH_SUPPORTED: 16404,
  REDIRECT_SUPPORTED: 16406,
  EAP_ONLY_AUTHENTICATION: 16417,
  CHILDLESS_IKEV2_SUPPORTED: 16418,
  IKEV2_MESSAGE_ID_SYNC_SUPPORTED: 16420,
  IKEV2_FRAGMENTATION_SUPPORTED: 16430,
  SIGNATURE_HASH_ALGORITHMS: 16431,
} as const;

export const NOTIFY_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(Notify).map(([k, v]) => [v, k]),
);

/** Notify types below this value are errors (§3.10.1). */
export const NOTIFY_ERROR_MAX = 16383;

export { TsType } from '../wire/traffic-selector.js';

export const CertEncoding = { X509_SIGNATURE: 4 } as const;

export const IdType = { IPV4_ADDR: 1, FQDN: 2, RFC822_ADDR: 3, IPV6_ADDR: 5, DER_ASN1_DN: 9, KEY_ID: 11 } as const;

export const AuthMethod = { RSA_SIG: 1, SHARED_KEY_MIC: 2, ECDSA_256: 9, DIGITAL_SIGNATURE: 14 } as const;
