import { Dh, Encr, Esn, Prf, ProtocolId, TransformType } from './constants.js';
import type { Proposal, Transform } from './message/payloads.js';

/**
 * Proposals in swanctl syntax (`aes256gcm16-prfsha256-modp2048`) and their negotiation.
 *
 * Selection policy (responder): our configured proposals are tried in our order, and within each
 * the first of our algorithms the peer also offers wins — "ours first", as strongSwan's default
 * `prefer_configured_proposals = yes`. The answer names the peer's proposal number.
 */

export type SaProtocol = 'ike' | 'esp';

export interface EncrAlg {
  id: number;
  keyLength: number; // bits
}

/** One configured proposal: a set of acceptable algorithms per transform type. */
export interface ProposalSpec {
  protocol: SaProtocol;
  encr: EncrAlg[];
  prf: number[];
  dh: number[];
  esn: number[];
  /** The text it was parsed from. */
  text: string;
}

/** The outcome of a negotiation: one algorithm per transform type. */
export interface ChosenProposal {
  protocol: SaProtocol;
  encr: EncrAlg;
  prf?: number;
  /** Key exchange group; undefined for ESP without PFS. */
  dh?: number;
  esn?: number;
}

export class ProposalSyntaxError extends Error {
  constructor(readonly text: string, readonly token: string, message: string) {
    super(message);
    this.name = 'ProposalSyntaxError';
  }
}

const ENCR_TOKENS: Record<string, EncrAlg> = {
  aes128gcm16: { id: Encr.AES_GCM_16, keyLength: 128 },
  aes128gcm128: { id: Encr.AES_GCM_16, keyLength: 128 },
  aes128gcm: { id: Encr.AES_GCM_16, keyLength: 128 },
  aes256gcm16: { id: Encr.AES_GCM_16, keyLength: 256 },
  aes256gcm128: { id: Encr.AES_GCM_16, keyLength: 256 },
  aes256gcm: { id: Encr.AES_GCM_16, keyLength: 256 },
};
const PRF_TOKENS: Record<string, number> = {
  prfsha256: Prf.HMAC_SHA2_256,
  prfsha384: Prf.HMAC_SHA2_384,
  prfsha512: Prf.HMAC_SHA2_512,
};
const DH_TOKENS: Record<string, number> = {
  modp2048: Dh.MODP2048,
  ecp256: Dh.ECP256,
  x25519: Dh.CURVE25519,
  curve25519: Dh.CURVE25519,
};
const ESN_TOKENS: Record<string, number> = { noesn: Esn.NO, esn: Esn.YES };

/** Parses one swanctl proposal string. Throws ProposalSyntaxError naming the bad token. */
export function parseProposal(text: string, protocol: SaProtocol): ProposalSpec {
  const spec: ProposalSpec = { protocol, encr: [], prf: [], dh: [], esn: [], text };
  const tokens = text.trim().toLowerCase().split('-');
  for (const tok of tokens) {
    if (ENCR_TOKENS[tok]) spec.encr.push(ENCR_TOKENS[tok]!);
    else if (PRF_TOKENS[tok] !== undefined && protocol === 'ike') spec.prf.push(PRF_TOKENS[tok]!);
    else if (DH_TOKENS[tok] !== undefined) spec.dh.push(DH_TOKENS[tok]!);
    else if (ESN_TOKENS[tok] !== undefined && protocol === 'esp') {
      if (tok === 'esn') throw new ProposalSyntaxError(text, tok, `"esn" is not supported (the data path has no extended sequence numbers); use noesn`);
      spec.esn.push(ESN_TOKENS[tok]!);
    } else {
      const known = protocol === 'ike'
        ? 'aes128gcm16, aes256gcm16, prfsha256, prfsha384, prfsha512, modp2048, ecp256, x25519'
        : 'aes128gcm16, aes256gcm16, modp2048, ecp256, x25519, noesn';
      throw new ProposalSyntaxError(text, tok, `unknown algorithm "${tok}" in ${protocol} proposal "${text}" (supported: ${known})`);
    }
  }
  if (spec.encr.length === 0) throw new ProposalSyntaxError(text, '', `${protocol} proposal "${text}" names no encryption algorithm`);
  if (protocol === 'ike') {
    if (spec.prf.length === 0) throw new ProposalSyntaxError(text, '', `IKE proposal "${text}" names no PRF (e.g. prfsha256)`);
    if (spec.dh.length === 0) throw new ProposalSyntaxError(text, '', `IKE proposal "${text}" names no key exchange group (e.g. modp2048)`);
  } else if (spec.esn.length === 0) {
    spec.esn.push(Esn.NO);
  }
  return spec;
}

export function parseProposals(texts: readonly string[], protocol: SaProtocol): ProposalSpec[] {
  return texts.map((t) => parseProposal(t, protocol));
}

/** SA payload proposals for our offer. `spi` is empty for IKE_SA_INIT, 8 bytes for IKE rekey, 4 for ESP. */
export function buildOffer(specs: readonly ProposalSpec[], spi: Buffer, opts: { dhFirst?: number; withoutDh?: boolean } = {}): Proposal[] {
  return specs.map((s, i) => {
    const t: Transform[] = [];
    for (const e of s.encr) t.push({ type: TransformType.ENCR, id: e.id, keyLength: e.keyLength });
    for (const p of s.prf) t.push({ type: TransformType.PRF, id: p });
    if (!opts.withoutDh) {
      // The group we send KE for goes first so that a responder that takes the first one matches it.
      const dh = opts.dhFirst !== undefined && s.dh.includes(opts.dhFirst) ? [opts.dhFirst, ...s.dh.filter((g) => g !== opts.dhFirst)] : s.dh;
      for (const g of dh) t.push({ type: TransformType.DH, id: g });
    }
    for (const e of s.esn) t.push({ type: TransformType.ESN, id: e });
    return { num: i + 1, protocolId: s.protocol === 'ike' ? ProtocolId.IKE : ProtocolId.ESP, spi, transforms: t };
  });
}

/** The single-proposal SA payload content a responder answers with. */
export function buildAnswer(chosen: ChosenProposal, num: number, spi: Buffer): Proposal {
  const t: Transform[] = [{ type: TransformType.ENCR, id: chosen.encr.id, keyLength: chosen.encr.keyLength }];
  if (chosen.prf !== undefined) t.push({ type: TransformType.PRF, id: chosen.prf });
  if (chosen.dh !== undefined) t.push({ type: TransformType.DH, id: chosen.dh });
  if (chosen.esn !== undefined) t.push({ type: TransformType.ESN, id: chosen.esn });
  return { num, protocolId: chosen.protocol === 'ike' ? ProtocolId.IKE : ProtocolId.ESP, spi, transforms: t };
}

function offered(p: Proposal, type: number): Transform[] {
  return p.transforms.filter((t) => t.type === type);
}

/**
 * Responder selection. `requireDh`: for IKE_SA_INIT, the group of the peer's KE (a match with
 * it avoids an INVALID_KE_PAYLOAD round trip); `pfs`: whether the peer sent KE in a child exchange.
 */
export function selectProposal(
  ours: readonly ProposalSpec[],
  theirs: readonly Proposal[],
  opts: { requireDh?: number; spiSize?: number; ignoreDh?: boolean } = {},
): { chosen: ChosenProposal; num: number; spi: Buffer } | undefined {
  for (const s of ours) {
    const protoId = s.protocol === 'ike' ? ProtocolId.IKE : ProtocolId.ESP;
    for (const p of theirs) {
      if (p.protocolId !== protoId) continue;
      if (opts.spiSize !== undefined && p.spi.length !== opts.spiSize) continue;
      const known = new Set<number>([TransformType.ENCR, TransformType.PRF, TransformType.INTEG, TransformType.DH, TransformType.ESN]);
      if (p.transforms.some((t) => !known.has(t.type))) continue; // a transform type we cannot honour
      const encr = s.encr.find((e) => offered(p, TransformType.ENCR).some((t) => t.id === e.id && (t.keyLength ?? 0) === e.keyLength));
      if (!encr) continue;
      // AEAD only: an offered integrity algorithm other than NONE cannot be combined (RFC 5282 §8).
      const integ = offered(p, TransformType.INTEG);
      if (integ.length > 0 && !integ.some((t) => t.id === 0)) continue;
      let prf: number | undefined;
      if (s.protocol === 'ike') {
        prf = s.prf.find((x) => offered(p, TransformType.PRF).some((t) => t.id === x));
        if (prf === undefined) continue;
      }
      const theirDh = offered(p, TransformType.DH).map((t) => t.id).filter((g) => g !== Dh.NONE);
      let dh: number | undefined;
      if (!opts.ignoreDh && (s.protocol === 'ike' || s.dh.length > 0 || theirDh.length > 0)) {
        const candidates = s.dh.filter((g) => theirDh.includes(g));
        if (opts.requireDh !== undefined) {
          if (!candidates.includes(opts.requireDh)) continue;
          dh = opts.requireDh;
        } else {
          dh = candidates[0];
        }
        if (dh === undefined) {
          // ESP: a peer offering "none" as an alternative may go without PFS if we do too.
          const theyAllowNone = offered(p, TransformType.DH).some((t) => t.id === Dh.NONE) || theirDh.length === 0;
          if (s.protocol === 'esp' && s.dh.length === 0 && theyAllowNone) dh = undefined;
          else continue;
        }
      }
      let esn: number | undefined;
      if (s.protocol === 'esp') {
        const theirEsn = offered(p, TransformType.ESN).map((t) => t.id);
        esn = s.esn.find((e) => theirEsn.length === 0 ? e === Esn.NO : theirEsn.includes(e));
        if (esn === undefined) continue;
      }
      const chosen: ChosenProposal = { protocol: s.protocol, encr };
      if (prf !== undefined) chosen.prf = prf;
      if (dh !== undefined) chosen.dh = dh;
      if (esn !== undefined) chosen.esn = esn;
      return { chosen, num: p.num, spi: p.spi };
    }
  }
  return undefined;
}

/** Initiator check of the answer: exactly one proposal, one transform per type, within what we offered. */
export function acceptAnswer(ours: readonly ProposalSpec[], answer: readonly Proposal[], expectDh?: number): ChosenProposal | undefined {
  if (answer.length !== 1) return undefined;
  const p = answer[0]!;
  const spec = ours[p.num - 1];
  if (!spec) return undefined;
  const one = (type: number): Transform | undefined | null => {
    const ts = offered(p, type);
    return ts.length > 1 ? null : ts[0];
  };
  const e = one(TransformType.ENCR);
  if (!e) return undefined;
  const encr = spec.encr.find((x) => x.id === e.id && x.keyLength === (e.keyLength ?? 0));
  if (!encr) return undefined;
  const chosen: ChosenProposal = { protocol: spec.protocol, encr };
  if (spec.protocol === 'ike') {
    const prf = one(TransformType.PRF);
    if (!prf || !spec.prf.includes(prf.id)) return undefined;
    chosen.prf = prf.id;
  }
  const dh = one(TransformType.DH);
  if (dh === null) return undefined;
  if (dh && dh.id !== Dh.NONE) {
    if (!spec.dh.includes(dh.id)) return undefined;
    if (expectDh !== undefined && dh.id !== expectDh) return undefined;
    chosen.dh = dh.id;
  } else if (spec.protocol === 'ike' || expectDh !== undefined) {
    return undefined;
  }
  if (spec.protocol === 'esp') {
    const esn = one(TransformType.ESN);
    if (esn === null) return undefined;
    const id = esn?.id ?? Esn.NO;
    if (!spec.esn.includes(id)) return undefined;
    chosen.esn = id;
  }
  return chosen;
}

// ---------- names, as libreswan prints them ----------

export function encrName(e: EncrAlg): string {
  return e.id === Encr.AES_GCM_16 ? `AES_GCM_16_${e.keyLength}` : `ENCR_${e.id}_${e.keyLength}`;
}

export function prfName(id: number): string {
  return ({ [Prf.HMAC_SHA2_256]: 'PRF_HMAC_SHA2_256', [Prf.HMAC_SHA2_384]: 'PRF_HMAC_SHA2_384', [Prf.HMAC_SHA2_512]: 'PRF_HMAC_SHA2_512' } as Record<number, string>)[id] ?? `PRF_${id}`;
}

export function dhName(id: number): string {
  return ({ [Dh.MODP2048]: 'MODP2048', [Dh.ECP256]: 'DH19', [Dh.CURVE25519]: 'DH31' } as Record<number, string>)[id] ?? `DH${id}`;
}

/** IKE: `AES_GCM_16_256/PRF_HMAC_SHA2_256/MODP2048`. ESP: the xfrm string `AES_GCM_16_256-NONE-MODP2048` (NONE = no integrity). */
export function proposalName(c: ChosenProposal): string {
  if (c.protocol === 'ike') return [encrName(c.encr), prfName(c.prf ?? 0), dhName(c.dh ?? 0)].join('/');
  return [encrName(c.encr), 'NONE', ...(c.dh !== undefined ? [dhName(c.dh)] : [])].join('-');
}

/** Key material lengths (bytes) for a chosen proposal: AES-GCM key plus 4-byte salt, no integrity key. */
export function keyLengths(c: ChosenProposal): { encr: number; integ: number } {
  return { encr: c.encr.keyLength / 8 + 4, integ: 0 };
}

export function prfHashOf(id: number): 'sha256' | 'sha384' | 'sha512' {
  if (id === Prf.HMAC_SHA2_256) return 'sha256';
  if (id === Prf.HMAC_SHA2_384) return 'sha384';
  if (id === Prf.HMAC_SHA2_512) return 'sha512';
  throw new RangeError(`unsupported PRF ${id}`);
}
