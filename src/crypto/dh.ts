import { createDiffieHellman, createECDH, createPrivateKey, createPublicKey, diffieHellman, getDiffieHellman, type KeyObject } from 'node:crypto';

/**
 * Key exchange groups for IKEv2 with their wire encodings (RFC 7296 §3.4):
 * - 14 MODP2048 (RFC 3526): public value left-padded to 256 bytes; shared secret likewise.
 * - 19 ECP256 (RFC 5903): public value X ‖ Y (64 bytes, no 0x04 prefix); shared secret X.
 * - 31 Curve25519 (RFC 8031): 32-byte u-coordinate; an all-zero shared secret is refused.
 */
export const DH_GROUPS = [14, 19, 31] as const;
export type DhGroup = (typeof DH_GROUPS)[number];

export function isSupportedGroup(g: number): g is DhGroup {
  return (DH_GROUPS as readonly number[]).includes(g);
}

const PUBLIC_LENGTH: Record<DhGroup, number> = { 14: 256, 19: 64, 31: 32 };
/** Bytes of randomness each group's private key consumes. */
const PRIVATE_LENGTH: Record<DhGroup, number> = { 14: 32, 19: 32, 31: 32 };

export function dhPublicLength(g: DhGroup): number {
  return PUBLIC_LENGTH[g];
}

export function dhPrivateLength(g: DhGroup): number {
  return PRIVATE_LENGTH[g];
}

export interface DhKeyPair {
  readonly group: DhGroup;
  /** The KE payload's key exchange data. */
  readonly publicValue: Buffer;
  /** g^ir from the peer's KE data, or null when the peer's value is invalid. */
  computeSecret(peer: Buffer): Buffer | null;
}

let modp14Prime: Buffer | undefined;
function modp2048Prime(): Buffer {
  return (modp14Prime ??= getDiffieHellman('modp14').getPrime());
}

function leftPad(b: Buffer, n: number): Buffer {
  if (b.length >= n) return b;
  return Buffer.concat([Buffer.alloc(n - b.length), b]);
}

/** The MODP public value must satisfy 1 < y < p-1 (RFC 2631 style check, SP 800-56A). */
function modpValueOk(y: Buffer, p: Buffer): boolean {
  if (y.length !== p.length) return false;
  const one = Buffer.alloc(p.length);
  one[p.length - 1] = 1;
  if (Buffer.compare(y, one) <= 0) return false;
  const pm1 = Buffer.from(p);
  pm1[pm1.length - 1]! -= 1; // p is odd, no borrow
  return Buffer.compare(y, pm1) < 0;
}

/**
 * Makes a key pair from `privateBytes` (dhPrivateLength(group) bytes of randomness); taking the
 * randomness as input keeps the IKE core deterministic under a seeded random source.
 */
export function dhFromPrivate(group: DhGroup, privateBytes: Buffer): DhKeyPair {
  switch (group) {
    case 14: {
      const p = modp2048Prime();
      const dh = createDiffieHellman(p, 2);
      dh.setPrivateKey(privateBytes);
      const pub = leftPad(dh.generateKeys(), 256);
      return {
        group,
        publicValue: pub,
        computeSecret(peer) {
          if (!modpValueOk(peer, p)) return null;
          try {
            return leftPad(dh.computeSecret(peer), 256);
          } catch {
            return null;
          }
        },
      };
    }
    case 19: {
      const ecdh = createECDH('prime256v1');
      ecdh.setPrivateKey(privateBytes);
      const pub = ecdh.getPublicKey(undefined, 'uncompressed').subarray(1);
      return {
        group,
        publicValue: Buffer.from(pub),
        computeSecret(peer) {
          if (peer.length !== 64) return null;
          try {
            return ecdh.computeSecret(Buffer.concat([Buffer.from([4]), peer]));
          } catch {
            return null; // not on the curve
          }
        },
      };
    }
    case 31: {
      const priv = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: privateBytes.toString('base64url'), x: '' }, format: 'jwk' });
      const pubJwk = createPublicKey(priv).export({ format: 'jwk' });
      const pub = Buffer.from(pubJwk.x as string, 'base64url');
      return {
        group,
        publicValue: pub,
        computeSecret(peer) {
          if (peer.length !== 32) return null;
          let peerKey: KeyObject;
          try {
            peerKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: peer.toString('base64url') }, format: 'jwk' });
            const s = diffieHellman({ privateKey: priv, publicKey: peerKey });
            return s.every((b) => b === 0) ? null : s;
          } catch {
            return null;
          }
        },
      };
    }
  }
}

export function generateDh(group: DhGroup, random: (n: number) => Buffer): DhKeyPair {
  return dhFromPrivate(group, random(PRIVATE_LENGTH[group]));
}
