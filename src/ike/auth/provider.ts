import type { KeyObject } from 'node:crypto';
import { type CertInfo, spkiSha1 } from './cert.js';
import { certNamesId } from './chain.js';
import { ChainCache, anchorsFingerprint } from './chain-cache.js';
import { certsFromPem, keyMatchesCert, privateKeyFromPem } from './credential-cache.js';
import { AUTH_SHARED_KEY_MIC, ID_DER_ASN1_DN, authMethodName } from './constants.js';
import { dnEquals, decodeDn } from './dn.js';
import { type IkeId, idMatches, idToString, parseIdString } from './id.js';
import { type Prf, pskAuth, pskVerify } from './psk.js';
import { type RsaPadding, signAuth, verifyAuthSignature } from './signature.js';

/** One connection's authentication settings, as the config layer hands them over. */
export interface AuthConnConfig {
  local: {
    auth: 'pubkey' | 'psk';
    /** Our certificate, PEM; further certificates in the same text are sent as intermediates. */
    certPem?: string;
    keyPem?: string;
    /** strongSwan id syntax; default: the certificate's subject DN. Required for PSK. */
    id?: string;
    /** RFC 7427 RSA signatures: PKCS#1 v1.5 (default, as strongSwan) or RSASSA-PSS. */
    rsaPadding?: RsaPadding;
  };
  remote: {
    auth: 'pubkey' | 'psk';
    /**
     * strongSwan id syntax; absent or `%any` accepts any id the certificate names. Wildcards as
     * strongSwan: `*.lab`, `*@lab`, `C=XX, O=Lab, CN=*`.
     */
    id?: string;
  };
  /** Trust anchors (PEM, one or more certificates each) for the peer's certificate. */
  caPems?: string[];
  psk?: Buffer;
}

export type AuthVerdict = { ok: true } | { ok: false; reason: string };

export interface IkeAuthProvider {
  sign(conn: string, signedOctets: Buffer, peerHashAlgs: number[], prf: Prf, skP: Buffer): { method: number; data: Buffer; certs: Buffer[] };
  verify(
    conn: string, method: number, data: Buffer, signedOctets: Buffer, peerCerts: Buffer[],
    peerId: { type: number; data: Buffer }, prf: Prf, skP: Buffer,
  ): AuthVerdict;
  localId(conn: string): { type: number; data: Buffer };
  /** Concatenated SHA-1 hashes of the CAs' SubjectPublicKeyInfo; empty when no CA is configured. */
  certReq(conn: string): Buffer;
  /** An id in strongSwan's text form ("a.example", "C=XX, O=Lab, CN=x", "10.0.0.1") for logs and status. */
  describeId(id: { type: number; data: Buffer }): string;
}

/** A connection's auth settings are unusable; `key` is the path inside the connection. */
export class AuthConfigError extends Error {
  constructor(readonly conn: string, readonly key: string, readonly problem: string, readonly fix?: string) {
    super(`connection ${conn}: ${key}: ${problem}${fix ? ` (${fix})` : ''}`);
    this.name = 'AuthConfigError';
  }
}

interface PreparedConn {
  localAuth: 'pubkey' | 'psk';
  remoteAuth: 'pubkey' | 'psk';
  localId: IkeId;
  localChain: CertInfo[];
  key: KeyObject | undefined;
  rsaPadding: RsaPadding;
  remoteId: IkeId | null;
  anchors: CertInfo[];
  /** The anchors' identity in chain cache keys. */
  anchorsKey: string;
  /** CERTREQ data: SHA-1 of each anchor's SubjectPublicKeyInfo, concatenated. */
  certReq: Buffer;
  psk: Buffer | undefined;
}

function prepare(name: string, c: AuthConnConfig): PreparedConn {
  const fail = (key: string, problem: string, fix?: string): never => { throw new AuthConfigError(name, key, problem, fix); };
  const parseId = (key: string, s: string): IkeId | null => {
    try {
      return parseIdString(s);
    } catch (e) {
      return fail(key, (e as Error).message, 'use a FQDN, an IPv4 address, user@domain or a DN like "C=XX, O=Lab, CN=x"');
    }
  };
  let localChain: CertInfo[] = [];
  let key: KeyObject | undefined;
  let localId: IkeId | null = c.local.id !== undefined ? parseId('local.id', c.local.id) : null;
  if (c.local.auth === 'pubkey') {
    if (!c.local.certPem) fail('local.certPem', 'pubkey authentication needs our certificate', 'set the certificate (PEM)');
    if (!c.local.keyPem) fail('local.keyPem', 'pubkey authentication needs our private key', 'set the private key (PEM)');
    try {
      localChain = certsFromPem(c.local.certPem!, 'local certificate');
    } catch (e) {
      fail('local.certPem', (e as Error).message);
    }
    try {
      key = privateKeyFromPem(c.local.keyPem!);
    } catch (e) {
      fail('local.keyPem', `unusable private key: ${(e as Error).message}`, 'use an RSA or ECDSA (P-256/384/521) key in PEM');
    }
    const ee = localChain[0]!;
    if (!keyMatchesCert(c.local.keyPem!, key!, ee)) {
      fail('local.keyPem', `the private key does not belong to certificate "${ee.subjectText}"`);
    }
    if (localId === null) {
      localId = { type: ID_DER_ASN1_DN, data: ee.subjectDer };
    } else {
      if (!certNamesId(ee, localId)) {
        fail('local.id', `certificate "${ee.subjectText}" does not name "${idToString(localId)}"`,
          'use an id the certificate carries as SAN (DNS, IP, email) or its subject DN');
      }
      // Send the subject exactly as the certificate encodes it when the id is that DN.
      if (localId.type === ID_DER_ASN1_DN && dnEquals(decodeDn(localId.data), ee.subject)) localId = { type: ID_DER_ASN1_DN, data: ee.subjectDer };
    }
  } else if (localId === null) {
    fail('local.id', 'PSK authentication needs an explicit local id', 'set local id, e.g. the node name');
  }
  if ((c.local.auth === 'psk' || c.remote.auth === 'psk') && (!c.psk || c.psk.length === 0)) {
    fail('psk', 'PSK authentication needs a shared secret', 'set the pre-shared key');
  }
  const remoteId = c.remote.id !== undefined ? parseId('remote.id', c.remote.id) : null;
  const anchors: CertInfo[] = [];
  for (const [i, pem] of (c.caPems ?? []).entries()) {
    try {
      anchors.push(...certsFromPem(pem, `CA ${i + 1}`));
    } catch (e) {
      fail(`caPems[${i}]`, (e as Error).message);
    }
  }
  if (c.remote.auth === 'pubkey' && anchors.length === 0) {
    fail('caPems', 'pubkey authentication of the peer needs at least one trusted CA', 'add the CA certificate (PEM)');
  }
  return {
    localAuth: c.local.auth, remoteAuth: c.remote.auth, localId: localId!, localChain, key,
    rsaPadding: c.local.rsaPadding ?? 'pkcs1', remoteId, anchors, psk: c.psk,
    anchorsKey: anchorsFingerprint(anchors), certReq: Buffer.concat(anchors.map(spkiSha1)),
  };
}

/**
 * Validated peer chains, shared by every provider of the process (an agent makes one provider per
 * peer, and rebuilds them on credential changes): entries are keyed by content and trust anchors,
 * so sharing never lets one connection's anchors vouch for another's peer.
 */
const sharedChainCache = new ChainCache();

export interface AuthProviderOptions {
  /** Where validated peer chains are remembered; default: one cache shared process-wide. */
  chainCache?: ChainCache;
}

/**
 * Builds the provider the IKE state machine calls for AUTH. Every connection's settings are
 * checked here (throws AuthConfigError), so sign/verify later only meet the peer's input.
 */
export function createAuthProvider(conns: Record<string, AuthConnConfig>, now: () => Date, opts: AuthProviderOptions = {}): IkeAuthProvider {
  const chainCache = opts.chainCache ?? sharedChainCache;
  const prepared = new Map<string, PreparedConn>();
  for (const [name, c] of Object.entries(conns)) prepared.set(name, prepare(name, c));
  const get = (conn: string): PreparedConn => {
    const p = prepared.get(conn);
    if (!p) throw new Error(`auth: unknown connection "${conn}"`);
    return p;
  };
  return {
    sign(conn, signedOctets, peerHashAlgs, prf) {
      const p = get(conn);
      if (p.localAuth === 'psk') return { method: AUTH_SHARED_KEY_MIC, data: pskAuth(prf, p.psk!, signedOctets), certs: [] };
      const s = signAuth(p.key!, signedOctets, peerHashAlgs, p.rsaPadding);
      return { ...s, certs: p.localChain.map((c) => c.der) };
    },
    verify(conn, method, data, signedOctets, peerCerts, peerId, prf) {
      const p = prepared.get(conn);
      if (!p) return { ok: false, reason: `unknown connection "${conn}"` };
      if (p.remoteId && !idMatches(p.remoteId, peerId)) {
        return { ok: false, reason: `id mismatch: expected ${idToString(p.remoteId)} got ${idToString(peerId)}` };
      }
      if (p.remoteAuth === 'psk') {
        if (method !== AUTH_SHARED_KEY_MIC) return { ok: false, reason: `peer used ${authMethodName(method)} (${method}), expected pre-shared key` };
        return pskVerify(prf, p.psk!, signedOctets, data) ? { ok: true } : { ok: false, reason: 'pre-shared key AUTH does not match (different secret?)' };
      }
      if (method === AUTH_SHARED_KEY_MIC) return { ok: false, reason: 'peer used a pre-shared key, expected a certificate signature' };
      const chain = chainCache.validate(peerCerts, p.anchors, p.anchorsKey, now());
      if (!chain.ok) return chain;
      if (!certNamesId(chain.endEntity, peerId)) {
        return { ok: false, reason: `id mismatch: certificate "${chain.endEntity.subjectText}" does not name the peer id ${idToString(peerId)}` };
      }
      return verifyAuthSignature(chain.endEntity.publicKey, method, data, signedOctets);
    },
    localId(conn) {
      const id = get(conn).localId;
      return { type: id.type, data: Buffer.from(id.data) };
    },
    certReq(conn) {
      return get(conn).certReq;
    },
    describeId(id) {
      return idToString(id);
    },
  };
}
