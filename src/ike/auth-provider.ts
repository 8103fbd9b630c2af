import type { Prf } from '../crypto/prf.js';

/** An identification payload's content (RFC 7296 §3.5). */
export interface IkeId {
  type: number;
  data: Buffer;
}

/**
 * src/ike/auth/ (createAuthProvider) implements this; the engine depends on this shape only.
 * What the protocol engine asks of authentication (implemented in src/ike/auth/). `signedOctets`
 * are RFC 7296 §2.15's: RealMessage ‖ Nonce ‖ prf(SK_p, ID'), computed by the engine.
 */
export interface IkeAuthProvider {
  /** Our AUTH payload (method, data) and the CERT payloads (DER) to send with it. */
  sign(conn: string, signedOctets: Buffer, peerHashAlgs: number[], prf: Prf, skP: Buffer): { method: number; data: Buffer; certs: Buffer[] };
  /** Checks the peer's AUTH, its certificates and that its identity is the configured one. */
  verify(conn: string, method: number, data: Buffer, signedOctets: Buffer, peerCerts: Buffer[], peerId: IkeId, prf: Prf, skP: Buffer): { ok: true } | { ok: false; reason: string };
  localId(conn: string): IkeId;
  /** CERTREQ content (concatenated SHA-1 hashes of trusted CAs' public keys); empty or absent: none. */
  certReq?(conn: string): Buffer | undefined;
  /** Human-readable form of an ID for logs and status. */
  describeId?(id: IkeId): string;
}
