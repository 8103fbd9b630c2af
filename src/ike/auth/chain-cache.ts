import { createHash } from 'node:crypto';
import { type CertInfo, parseCertificate } from './cert.js';
import { type ChainResult, validateChainWith, validityProblem } from './chain.js';
import { Lru } from './lru.js';

export interface ChainCacheStats {
  chainHits: number;
  chainMisses: number;
  chainEvictions: number;
  chains: number;
  certHits: number;
  certMisses: number;
  certEvictions: number;
  certs: number;
}

function sha256(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('base64');
}

/**
 * Remembers parsed certificates (by the SHA-256 of their DER) and validated chains (by the
 * trust anchors' fingerprint and the peer's certificates' hashes), so that a peer seen again does
 * not pay for parsing and signature checks on every IKE_AUTH. What a chain's validity depends on
 * besides the bytes — the time — is checked again at every use against the caller's (injected)
 * clock, certificate by certificate in path order, so a hit refuses exactly what a full
 * validation would refuse, with the same reason. Refused chains are not remembered.
 * Trust anchors are part of the key: another anchor set (a CA rollover, a removed CA) never
 * finds chains validated under the old one; those age out. Both maps are bounded (LRU).
 */
export class ChainCache {
  private readonly chains: Lru<CertInfo[]>;
  private readonly certs: Lru<CertInfo>;

  constructor(opts: { chains?: number; certs?: number } = {}) {
    this.chains = new Lru(opts.chains ?? 256);
    this.certs = new Lru(opts.certs ?? 256);
  }

  /** parseCertificate, remembered by DER hash. Throws CertParseError (failures are not remembered). */
  parse(der: Buffer): CertInfo {
    const key = sha256(der);
    const hit = this.certs.get(key);
    if (hit) return hit;
    const c = parseCertificate(der);
    this.certs.set(key, c);
    return c;
  }

  /** validateChain's verdict for the peer's certificates under `anchors` (fingerprinted by anchorsKey) at `now`. */
  validate(peerCerts: Buffer[], anchors: CertInfo[], anchorsKey: string, now: Date): ChainResult {
    if (peerCerts.length === 0) return validateChainWith(peerCerts, anchors, now, (d) => this.parse(d));
    const key = `${anchorsKey}|${peerCerts.map(sha256).join('|')}`;
    const path = this.chains.get(key);
    if (path) {
      for (const c of path) {
        const p = validityProblem(c, now);
        if (p) return { ok: false, reason: p };
      }
      return { ok: true, endEntity: path[0]!, path };
    }
    const r = validateChainWith(peerCerts, anchors, now, (d) => this.parse(d));
    if (r.ok) this.chains.set(key, r.path);
    return r;
  }

  clear(): void {
    this.chains.clear();
    this.certs.clear();
  }

  get stats(): ChainCacheStats {
    return {
      chainHits: this.chains.hits, chainMisses: this.chains.misses, chainEvictions: this.chains.evictions, chains: this.chains.size,
      certHits: this.certs.hits, certMisses: this.certs.misses, certEvictions: this.certs.evictions, certs: this.certs.size,
    };
  }
}

/** A trust-anchor set's identity for cache keys: the hash of its certificates' DER, in order. */
export function anchorsFingerprint(anchors: CertInfo[]): string {
  const h = createHash('sha256');
  for (const a of anchors) h.update(sha256(a.der));
  return h.digest('base64');
}
