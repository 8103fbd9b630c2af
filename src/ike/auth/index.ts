/**
 * IKEv2 authentication (RFC 7296 §2.15, §3.5–3.8; RFC 7427): identities, certificate chains,
 * AUTH payload computation and checks. The IKE state machine uses createAuthProvider(); the
 * pieces are exported for tests and tools.
 */
export { createAuthProvider, AuthConfigError } from './provider.js';
export type { IkeAuthProvider, AuthConnConfig, AuthVerdict } from './provider.js';
export * from './constants.js';
export { type IkeId, IdSyntaxError, parseIdString, encodeIdBody, decodeIdBody, idToString, idEquals, idMatches } from './id.js';
export { type CertInfo, CertParseError, parseCertificate, parseCertificatePem, pemToDerList, spkiSha1 } from './cert.js';
export { type ChainResult, validateChain, certNamesId } from './chain.js';
export { ChainCache, type ChainCacheStats, anchorsFingerprint } from './chain-cache.js';
export type { AuthProviderOptions } from './provider.js';
export { type SigAlg, encodeSigAlg, parseSigAlg, splitDigitalSignature, joinDigitalSignature } from './sig-alg.js';
export { type KeyKind, type RsaPadding, keyKind, chooseSignatureHash, signAuth, verifyAuthSignature } from './signature.js';
export { type Prf, pskAuth, pskVerify } from './psk.js';
export { signatureHashNotifyData, parseSignatureHashNotify, CERT_ENCODING_X509_SIGNATURE } from './notify.js';
