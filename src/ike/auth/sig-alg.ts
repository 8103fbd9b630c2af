import type { HashName } from './constants.js';
import {
  DerError, TAG_INTEGER, TAG_NULL, TAG_OID, TAG_SEQUENCE, decodeOid, decodeSmallInt, encodeOid,
  encodeSmallInt, readChildren, readSingle, readTlv, tlv,
} from './der.js';

/**
 * The signature algorithms RFC 7427 (method 14) carries as an AlgorithmIdentifier in front of the
 * signature: RSA PKCS#1 v1.5, RSASSA-PSS (RFC 4055 parameters) and ECDSA, each with its hash.
 */
export type SigAlg =
  | { kind: 'rsa-pkcs1'; hash: HashName }
  | { kind: 'ecdsa'; hash: HashName }
  | { kind: 'rsa-pss'; hash: HashName; mgfHash: HashName; saltLength: number };

const OID_RSA_PSS = '1.2.840.113549.1.1.10';
const OID_MGF1 = '1.2.840.113549.1.1.8';

const RSA_PKCS1_OIDS: Record<HashName, string> = {
  sha1: '1.2.840.113549.1.1.5',
  sha256: '1.2.840.113549.1.1.11',
  sha384: '1.2.840.113549.1.1.12',
  sha512: '1.2.840.113549.1.1.13',
};
const ECDSA_OIDS: Record<HashName, string> = {
  sha1: '1.2.840.10045.4.1',
  sha256: '1.2.840.10045.4.3.2',
  sha384: '1.2.840.10045.4.3.3',
  sha512: '1.2.840.10045.4.3.4',
};
const HASH_OIDS: Record<HashName, string> = {
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
};

function reverse(m: Record<HashName, string>): Map<string, HashName> {
  return new Map(Object.entries(m).map(([h, oid]) => [oid, h as HashName]));
}
const RSA_PKCS1_BY_OID = reverse(RSA_PKCS1_OIDS);
const ECDSA_BY_OID = reverse(ECDSA_OIDS);
const HASH_BY_OID = reverse(HASH_OIDS);

export const HASH_LENGTH: Record<HashName, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

const NULL = tlv(TAG_NULL);

function hashAlgId(h: HashName): Buffer {
  return tlv(TAG_SEQUENCE, encodeOid(HASH_OIDS[h]), NULL);
}

/** DER AlgorithmIdentifier for the algorithm (PKCS#1 with NULL parameters, ECDSA without). */
export function encodeSigAlg(alg: SigAlg): Buffer {
  switch (alg.kind) {
    case 'rsa-pkcs1':
      return tlv(TAG_SEQUENCE, encodeOid(RSA_PKCS1_OIDS[alg.hash]), NULL);
    case 'ecdsa':
      return tlv(TAG_SEQUENCE, encodeOid(ECDSA_OIDS[alg.hash]));
    case 'rsa-pss':
      return tlv(
        TAG_SEQUENCE,
        encodeOid(OID_RSA_PSS),
        tlv(
          TAG_SEQUENCE,
          tlv(0xa0, hashAlgId(alg.hash)),
          tlv(0xa1, tlv(TAG_SEQUENCE, encodeOid(OID_MGF1), hashAlgId(alg.mgfHash))),
          tlv(0xa2, encodeSmallInt(alg.saltLength)),
        ),
      );
  }
}

function parseHashAlgId(der: Buffer): HashName {
  const seq = readSingle(der);
  const [oid, params] = readChildren(seq.value);
  if (seq.tag !== TAG_SEQUENCE || !oid || oid.tag !== TAG_OID) throw new DerError('bad hash AlgorithmIdentifier');
  if (params && params.tag !== TAG_NULL) throw new DerError('hash AlgorithmIdentifier has unexpected parameters');
  const h = HASH_BY_OID.get(decodeOid(oid.value));
  if (!h) throw new DerError(`unsupported hash ${decodeOid(oid.value)}`);
  return h;
}

/** RSASSA-PSS-params (RFC 4055 §3.1): absent fields take the defaults SHA-1, MGF1-SHA-1, 20, 1. */
function parsePssParams(params: Buffer | undefined): SigAlg {
  let hash: HashName = 'sha1';
  let mgfHash: HashName = 'sha1';
  let saltLength = 20;
  if (params) {
    const seq = readSingle(params);
    if (seq.tag !== TAG_SEQUENCE) throw new DerError('RSASSA-PSS parameters are not a SEQUENCE');
    for (const field of readChildren(seq.value)) {
      const inner = readSingle(field.value);
      switch (field.tag) {
        case 0xa0:
          hash = parseHashAlgId(inner.raw);
          break;
        case 0xa1: {
          const [oid, hashAlg] = readChildren(inner.value);
          if (!oid || oid.tag !== TAG_OID || decodeOid(oid.value) !== OID_MGF1 || !hashAlg) {
            throw new DerError('RSASSA-PSS mask generation function is not MGF1');
          }
          mgfHash = parseHashAlgId(hashAlg.raw);
          break;
        }
        case 0xa2:
          if (inner.tag !== TAG_INTEGER) throw new DerError('RSASSA-PSS saltLength is not an INTEGER');
          saltLength = decodeSmallInt(inner.value);
          break;
        case 0xa3:
          if (inner.tag !== TAG_INTEGER || decodeSmallInt(inner.value) !== 1) throw new DerError('RSASSA-PSS trailerField must be 1');
          break;
        default:
          throw new DerError('unknown RSASSA-PSS parameter');
      }
    }
  }
  return { kind: 'rsa-pss', hash, mgfHash, saltLength };
}

/** Parses a DER AlgorithmIdentifier into a signature algorithm; throws DerError if unsupported. */
export function parseSigAlg(der: Buffer): SigAlg {
  const seq = readSingle(der);
  if (seq.tag !== TAG_SEQUENCE) throw new DerError('AlgorithmIdentifier is not a SEQUENCE');
  const [oidTlv, params, extra] = readChildren(seq.value);
  if (!oidTlv || oidTlv.tag !== TAG_OID || extra) throw new DerError('malformed AlgorithmIdentifier');
  const oid = decodeOid(oidTlv.value);
  const pkcs1 = RSA_PKCS1_BY_OID.get(oid);
  if (pkcs1) {
    if (params && params.tag !== TAG_NULL) throw new DerError('PKCS#1 AlgorithmIdentifier parameters must be NULL');
    return { kind: 'rsa-pkcs1', hash: pkcs1 };
  }
  const ecdsa = ECDSA_BY_OID.get(oid);
  if (ecdsa) {
    if (params) throw new DerError('ECDSA AlgorithmIdentifier must not carry parameters');
    return { kind: 'ecdsa', hash: ecdsa };
  }
  if (oid === OID_RSA_PSS) return parsePssParams(params?.raw);
  throw new DerError(`unsupported signature algorithm ${oid}`);
}

/**
 * Splits method-14 AUTH data (RFC 7427 §3): a length octet, the AlgorithmIdentifier, the
 * signature. Throws DerError when malformed.
 */
export function splitDigitalSignature(data: Buffer): { algDer: Buffer; alg: SigAlg; signature: Buffer } {
  if (data.length < 1) throw new DerError('empty digital signature AUTH data');
  const len = data[0]!;
  if (data.length < 1 + len) throw new DerError('AlgorithmIdentifier length runs past the AUTH data');
  const algDer = data.subarray(1, 1 + len);
  const { next } = readTlv(algDer, 0);
  if (next !== len) throw new DerError('AlgorithmIdentifier length octet does not match its encoding');
  return { algDer, alg: parseSigAlg(algDer), signature: data.subarray(1 + len) };
}

export function joinDigitalSignature(alg: SigAlg, signature: Buffer): Buffer {
  const algDer = encodeSigAlg(alg);
  return Buffer.concat([Buffer.from([algDer.length]), algDer, signature]);
}

export function sigAlgName(alg: SigAlg): string {
  switch (alg.kind) {
    case 'rsa-pkcs1': return `RSA PKCS#1 v1.5 with ${alg.hash.toUpperCase()}`;
    case 'ecdsa': return `ECDSA with ${alg.hash.toUpperCase()}`;
    case 'rsa-pss': return `RSASSA-PSS with ${alg.hash.toUpperCase()} (MGF1-${alg.mgfHash.toUpperCase()}, salt ${alg.saltLength})`;
  }
}
