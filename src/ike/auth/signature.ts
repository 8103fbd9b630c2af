import { type KeyObject, constants as cc, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import {
  AUTH_DIGITAL_SIGNATURE, AUTH_ECDSA_256, AUTH_ECDSA_384, AUTH_ECDSA_521, AUTH_RSA_SIG, HASH_NAME_BY_ID,
  HASH_SHA2_256, HASH_SHA2_384, HASH_SHA2_512, type HashName, SUPPORTED_SIGNATURE_HASHES, authMethodName,
} from './constants.js';
import { HASH_LENGTH, type SigAlg, joinDigitalSignature, sigAlgName, splitDigitalSignature } from './sig-alg.js';

/** What kind of key signs: RSA, or ECDSA on a named curve. */
export type KeyKind = { type: 'rsa' } | { type: 'ecdsa'; curve: 'P-256' | 'P-384' | 'P-521' };

export type VerifyResult = { ok: true } | { ok: false; reason: string };

/** How our RSA key signs under RFC 7427: PKCS#1 v1.5 (strongSwan's default) or RSASSA-PSS. */
export type RsaPadding = 'pkcs1' | 'pss';

const CURVES: Record<string, 'P-256' | 'P-384' | 'P-521'> = {
  prime256v1: 'P-256', 'P-256': 'P-256', secp384r1: 'P-384', 'P-384': 'P-384', secp521r1: 'P-521', 'P-521': 'P-521',
};

/** Classifies a key; throws for key types IKE signature auth does not use here. */
export function keyKind(key: KeyObject): KeyKind {
  if (key.asymmetricKeyType === 'rsa') return { type: 'rsa' };
  if (key.asymmetricKeyType === 'ec') {
    const curve = CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (curve) return { type: 'ecdsa', curve };
    throw new Error(`unsupported EC curve ${key.asymmetricKeyDetails?.namedCurve}`);
  }
  throw new Error(`unsupported key type ${key.asymmetricKeyType}`);
}

/** Classic ECDSA methods (RFC 4754): the curve fixes the method and its hash. */
const ECDSA_CLASSIC: Record<'P-256' | 'P-384' | 'P-521', { method: number; hash: HashName }> = {
  'P-256': { method: AUTH_ECDSA_256, hash: 'sha256' },
  'P-384': { method: AUTH_ECDSA_384, hash: 'sha384' },
  'P-521': { method: AUTH_ECDSA_521, hash: 'sha512' },
};

const CURVE_HASH_ID: Record<'P-256' | 'P-384' | 'P-521', number> = {
  'P-256': HASH_SHA2_256, 'P-384': HASH_SHA2_384, 'P-521': HASH_SHA2_512,
};

/**
 * Picks the hash for method 14 from the peer's SIGNATURE_HASH_ALGORITHMS: for ECDSA the one that
 * matches the curve's strength if offered, otherwise (and for RSA) the first of SHA-256, -384,
 * -512 the peer offered. null when the peer offered none we support: classic auth then.
 */
export function chooseSignatureHash(kind: KeyKind, peerHashAlgs: number[]): HashName | null {
  const common = SUPPORTED_SIGNATURE_HASHES.filter((h) => peerHashAlgs.includes(h));
  if (common.length === 0) return null;
  const preferred = kind.type === 'ecdsa' ? CURVE_HASH_ID[kind.curve] : HASH_SHA2_256;
  const id = common.includes(preferred) ? preferred : common[0]!;
  return HASH_NAME_BY_ID[id]!;
}

function signWith(alg: SigAlg, key: KeyObject, data: Buffer): Buffer {
  switch (alg.kind) {
    case 'rsa-pkcs1':
      return cryptoSign(alg.hash, data, { key, padding: cc.RSA_PKCS1_PADDING });
    case 'rsa-pss':
      return cryptoSign(alg.hash, data, { key, padding: cc.RSA_PKCS1_PSS_PADDING, saltLength: alg.saltLength });
    case 'ecdsa':
      return cryptoSign(alg.hash, data, { key, dsaEncoding: 'der' });
  }
}

/**
 * Signs the AUTH payload's signed octets with our private key: RFC 7427 method 14 when the peer
 * sent SIGNATURE_HASH_ALGORITHMS with a hash we share, else the classic method for the key type
 * (RSA → 1 with SHA-1, ECDSA → 9/10/11 with r‖s).
 */
export function signAuth(
  key: KeyObject, signedOctets: Buffer, peerHashAlgs: number[], rsaPadding: RsaPadding = 'pkcs1',
): { method: number; data: Buffer } {
  const kind = keyKind(key);
  const hash = chooseSignatureHash(kind, peerHashAlgs);
  if (hash) {
    let alg: SigAlg;
    if (kind.type === 'ecdsa') alg = { kind: 'ecdsa', hash };
    else if (rsaPadding === 'pss') alg = { kind: 'rsa-pss', hash, mgfHash: hash, saltLength: HASH_LENGTH[hash] };
    else alg = { kind: 'rsa-pkcs1', hash };
    return { method: AUTH_DIGITAL_SIGNATURE, data: joinDigitalSignature(alg, signWith(alg, key, signedOctets)) };
  }
  if (kind.type === 'rsa') {
    return { method: AUTH_RSA_SIG, data: cryptoSign('sha1', signedOctets, { key, padding: cc.RSA_PKCS1_PADDING }) };
  }
  const c = ECDSA_CLASSIC[kind.curve];
  return { method: c.method, data: cryptoSign(c.hash, signedOctets, { key, dsaEncoding: 'ieee-p1363' }) };
}

function safeVerify(fn: () => boolean): boolean {
  try {
    return fn();
  } catch {
    return false;
  }
}

/** Verifies a peer's signature AUTH data (methods 1, 9, 10, 11, 14) with its certificate's key. */
export function verifyAuthSignature(publicKey: KeyObject, method: number, data: Buffer, signedOctets: Buffer): VerifyResult {
  let kind: KeyKind;
  try {
    kind = keyKind(publicKey);
  } catch (e) {
    return { ok: false, reason: `peer certificate key: ${(e as Error).message}` };
  }
  const keyName = kind.type === 'rsa' ? 'RSA' : `ECDSA ${kind.curve}`;
  const bad = (what: string): VerifyResult => ({ ok: false, reason: `${what} signature does not verify with the peer certificate's ${keyName} key` });
  switch (method) {
    case AUTH_RSA_SIG:
      if (kind.type !== 'rsa') return { ok: false, reason: `auth method RSA signature (1) does not fit the peer's ${keyName} key` };
      return safeVerify(() => cryptoVerify('sha1', signedOctets, { key: publicKey, padding: cc.RSA_PKCS1_PADDING }, data))
        ? { ok: true } : bad('RSA PKCS#1 v1.5 SHA-1');
    case AUTH_ECDSA_256:
    case AUTH_ECDSA_384:
    case AUTH_ECDSA_521: {
      const curve = (Object.keys(ECDSA_CLASSIC) as Array<'P-256' | 'P-384' | 'P-521'>).find((k) => ECDSA_CLASSIC[k].method === method)!;
      if (kind.type !== 'ecdsa' || kind.curve !== curve) {
        return { ok: false, reason: `auth method ${authMethodName(method)} (${method}) does not fit the peer's ${keyName} key` };
      }
      const { hash } = ECDSA_CLASSIC[curve];
      const half = curve === 'P-521' ? 66 : curve === 'P-384' ? 48 : 32;
      if (data.length !== 2 * half) return { ok: false, reason: `ECDSA ${curve} signature must be ${2 * half} bytes (r‖s), got ${data.length}` };
      return safeVerify(() => cryptoVerify(hash, signedOctets, { key: publicKey, dsaEncoding: 'ieee-p1363' }, data))
        ? { ok: true } : bad(authMethodName(method));
    }
    case AUTH_DIGITAL_SIGNATURE:
      return verifyDigitalSignature(publicKey, kind, keyName, data, signedOctets);
    default:
      return { ok: false, reason: `unsupported auth method ${authMethodName(method)} (${method})` };
  }
}

function verifyDigitalSignature(publicKey: KeyObject, kind: KeyKind, keyName: string, data: Buffer, signedOctets: Buffer): VerifyResult {
  let parts: ReturnType<typeof splitDigitalSignature>;
  try {
    parts = splitDigitalSignature(data);
  } catch (e) {
    return { ok: false, reason: `malformed RFC 7427 signature: ${(e as Error).message}` };
  }
  const { alg, signature } = parts;
  const name = sigAlgName(alg);
  // We announce only SHA2-256/384/512 in SIGNATURE_HASH_ALGORITHMS; a peer must use one of them.
  const offered = SUPPORTED_SIGNATURE_HASHES.map((h) => HASH_NAME_BY_ID[h]);
  if (!offered.includes(alg.hash)) return { ok: false, reason: `${name}: hash ${alg.hash} is not one we announced in SIGNATURE_HASH_ALGORITHMS` };
  const wantsRsa = alg.kind !== 'ecdsa';
  if (wantsRsa !== (kind.type === 'rsa')) return { ok: false, reason: `${name} does not fit the peer's ${keyName} key` };
  let ok: boolean;
  switch (alg.kind) {
    case 'rsa-pkcs1':
      ok = safeVerify(() => cryptoVerify(alg.hash, signedOctets, { key: publicKey, padding: cc.RSA_PKCS1_PADDING }, signature));
      break;
    case 'rsa-pss':
      // node:crypto takes the MGF1 hash from the signature hash; other combinations are refused.
      if (alg.mgfHash !== alg.hash) return { ok: false, reason: `${name}: MGF1 hash differs from the signature hash (unsupported)` };
      ok = safeVerify(() => cryptoVerify(alg.hash, signedOctets, { key: publicKey, padding: cc.RSA_PKCS1_PSS_PADDING, saltLength: alg.saltLength }, signature));
      break;
    case 'ecdsa':
      ok = safeVerify(() => cryptoVerify(alg.hash, signedOctets, { key: publicKey, dsaEncoding: 'der' }, signature));
      break;
  }
  return ok ? { ok: true } : { ok: false, reason: `${name} signature does not verify with the peer certificate's ${keyName} key` };
}
