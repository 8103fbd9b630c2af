export * from './enroll.js';
export { CredentialKeeper, type KeeperOptions, type CredentialsChanged } from './keeper.js';
export { loadOrCreateIdentity, IdentityError, type NodeIdentity } from './node-identity.js';
export { createCa, signNodeCertificate, CA_YEARS, NODE_CERT_YEARS, CA_RENEW_AFTER_YEARS, NODE_RENEW_MONTHS_LEFT, NODE_EKUS } from './ca.js';
export { checkNodeCsr, createNodeCsr, nodeSubject } from './csr.js';
export { certInfo, fingerprintOf, splitPem, verifiesAgainst, type CertInfo } from './cert-info.js';
export { generateKeyPair, keyPairFromPem, privateKeyToPem, type KeyAlgorithm, type KeyPair } from './keys.js';
export { clockFromEnv, parseClockOffset, addYears, type Clock } from './time.js';
