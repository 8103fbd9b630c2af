import { prfPlus, type Prf } from './prf.js';

/** Keys of an IKE SA (RFC 7296 §2.14). With an AEAD cipher SK_ai/SK_ar are empty (RFC 5282 §7). */
export interface IkeSaKeys {
  skD: Buffer;
  skAi: Buffer;
  skAr: Buffer;
  /** Encryption keys; for AES-GCM the AES key followed by the 4-byte salt. */
  skEi: Buffer;
  skEr: Buffer;
  skPi: Buffer;
  skPr: Buffer;
}

export interface KeyLengths {
  /** Encryption key length in bytes, salt included (AES-256-GCM: 36). */
  encr: number;
  /** Integrity key length in bytes; 0 for AEAD. */
  integ: number;
}

/**
 * Keys live as long as their SA: each gets memory of its own (Buffer.alloc), not a slice of
 * Buffer.from's shared pool slab, which one long-lived slice would keep alive whole.
 */
function ownCopy(b: Buffer): Buffer {
  const out = Buffer.alloc(b.length);
  b.copy(out);
  return out;
}

/** SKEYSEED = prf(Ni | Nr, g^ir). */
export function skeyseed(prf: Prf, ni: Buffer, nr: Buffer, gir: Buffer): Buffer {
  return prf(Buffer.concat([ni, nr]), gir);
}

/** SKEYSEED of a rekeyed IKE SA (§2.18): prf(SK_d (old), g^ir (new) | Ni | Nr). */
export function rekeySkeyseed(prf: Prf, oldSkD: Buffer, girNew: Buffer, ni: Buffer, nr: Buffer): Buffer {
  return prf(oldSkD, Buffer.concat([girNew, ni, nr]));
}

/** {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr). */
export function deriveIkeSaKeys(prf: Prf, seed: Buffer, ni: Buffer, nr: Buffer, spiI: Buffer, spiR: Buffer, len: KeyLengths): IkeSaKeys {
  const p = prf.size;
  const total = 3 * p + 2 * len.integ + 2 * len.encr;
  const km = prfPlus(prf, seed, Buffer.concat([ni, nr, spiI, spiR]), total);
  let off = 0;
  const take = (n: number): Buffer => ownCopy(km.subarray(off, (off += n)));
  return {
    skD: take(p),
    skAi: take(len.integ),
    skAr: take(len.integ),
    skEi: take(len.encr),
    skEr: take(len.encr),
    skPi: take(p),
    skPr: take(p),
  };
}

/** Child SA keys in each direction: initiator→responder and responder→initiator (§2.17). */
export interface ChildKeys {
  encrI2R: Buffer;
  integI2R: Buffer;
  encrR2I: Buffer;
  integR2I: Buffer;
}

/**
 * KEYMAT = prf+(SK_d, Ni | Nr), or prf+(SK_d, g^ir (new) | Ni | Nr) with PFS. The initiator-to-
 * responder keys come first, encryption before integrity.
 */
export function deriveChildKeys(prf: Prf, skD: Buffer, ni: Buffer, nr: Buffer, len: KeyLengths, girNew?: Buffer): ChildKeys {
  const seed = girNew ? Buffer.concat([girNew, ni, nr]) : Buffer.concat([ni, nr]);
  const km = prfPlus(prf, skD, seed, 2 * (len.encr + len.integ));
  let off = 0;
  const take = (n: number): Buffer => ownCopy(km.subarray(off, (off += n)));
  const encrI2R = take(len.encr);
  const integI2R = take(len.integ);
  const encrR2I = take(len.encr);
  const integR2I = take(len.integ);
  return { encrI2R, integI2R, encrR2I, integR2I };
}
