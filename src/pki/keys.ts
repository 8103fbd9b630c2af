import { createPrivateKey, createPublicKey, webcrypto } from 'node:crypto';

/** RSA-2048 is what OpenShift uses; ECDSA P-256 is the smaller, faster option. */
export type KeyAlgorithm = 'rsa' | 'ecdsa';

export interface KeyPair {
  algorithm: KeyAlgorithm;
  privateKey: webcrypto.CryptoKey;
  publicKey: webcrypto.CryptoKey;
}

export function signingParams(alg: KeyAlgorithm): webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams {
  return alg === 'rsa' ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : { name: 'ECDSA', namedCurve: 'P-256' };
}

export function signatureAlgorithm(alg: KeyAlgorithm): webcrypto.Algorithm | webcrypto.EcdsaParams {
  return alg === 'rsa' ? { name: 'RSASSA-PKCS1-v1_5' } : ({ name: 'ECDSA', hash: 'SHA-256' } as webcrypto.EcdsaParams);
}

export async function generateKeyPair(alg: KeyAlgorithm): Promise<KeyPair> {
  const params =
    alg === 'rsa'
      ? { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
      : { name: 'ECDSA', namedCurve: 'P-256' };
  const kp = (await webcrypto.subtle.generateKey(params, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  return { algorithm: alg, privateKey: kp.privateKey, publicKey: kp.publicKey };
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`;
}

/** PKCS#8 PEM ("PRIVATE KEY"), which openssl, strongSwan and libreswan all read. */
export async function privateKeyToPem(key: webcrypto.CryptoKey): Promise<string> {
  return pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', key));
}

/** Reads a private key PEM (PKCS#8, PKCS#1 RSA or SEC1 EC) into a key pair usable for signing. */
export async function keyPairFromPem(text: string): Promise<KeyPair> {
  const k = createPrivateKey(text);
  const type = k.asymmetricKeyType;
  let alg: KeyAlgorithm;
  if (type === 'rsa') alg = 'rsa';
  else if (type === 'ec' && k.asymmetricKeyDetails?.namedCurve === 'prime256v1') alg = 'ecdsa';
  else throw new Error(`unsupported private key type ${type}${k.asymmetricKeyDetails?.namedCurve ? ` ${k.asymmetricKeyDetails.namedCurve}` : ''} (use RSA or ECDSA P-256)`);
  const der = k.export({ format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(k).export({ format: 'der', type: 'spki' });
  const params = signingParams(alg);
  const privateKey = await webcrypto.subtle.importKey('pkcs8', der, params, true, ['sign']);
  const publicKey = await webcrypto.subtle.importKey('spki', spki, params, true, ['verify']);
  return { algorithm: alg, privateKey, publicKey };
}
