import type { IkeSa } from './ike-sa.js';

const EMPTY = Buffer.alloc(0);

/**
 * An exact copy of `b` in memory of its own, unless it already is. Small Buffers made by
 * Buffer.from / concat / subarray are slices of a shared 8 KB pool slab (or of a whole received
 * datagram); one slice kept for the life of an SA keeps the whole slab alive. Across 1000 SAs,
 * each keeping a few such slices made while other buffers churned, that was ~16 KB per peer.
 */
export function owned(b: Buffer): Buffer {
  if (b.length === 0) return EMPTY;
  if (b.byteOffset === 0 && b.buffer.byteLength === b.length) return b;
  const copy = Buffer.alloc(b.length);
  b.copy(copy);
  return copy;
}

/**
 * Once IKE_AUTH is done, an IKE SA needs neither the IKE_SA_INIT messages nor the nonces nor
 * SK_pi/SK_pr (they only enter the AUTH payloads, RFC 7296 §2.15; rekeys bring fresh nonces), so
 * they are dropped; what stays for the SA's life is moved out of shared buffers (see owned).
 */
export function compactEstablished(sa: IkeSa): void {
  sa.initRequest = EMPTY;
  sa.initResponse = EMPTY;
  sa.ni = EMPTY;
  sa.nr = EMPTY;
  // One allocation for all of them: each separate Buffer would cost an ArrayBuffer object and a
  // backing store of its own (~200 bytes) on top of its few bytes.
  const crypto = sa.crypto;
  const k = crypto?.keys;
  const [spiR, skD, skAi, skAr, skEi, skEr, rid, lid] = packed([
    sa.spiR, k?.skD ?? EMPTY, k?.skAi ?? EMPTY, k?.skAr ?? EMPTY, k?.skEi ?? EMPTY, k?.skEr ?? EMPTY,
    sa.remoteId?.data ?? EMPTY, sa.localId?.data ?? EMPTY,
  ]);
  sa.spiR = spiR!;
  if (crypto) crypto.keys = { skD: skD!, skAi: skAi!, skAr: skAr!, skEi: skEi!, skEr: skEr!, skPi: EMPTY, skPr: EMPTY };
  if (sa.remoteId) sa.remoteId = { type: sa.remoteId.type, data: rid! };
  if (sa.localId) sa.localId = { type: sa.localId.type, data: lid! };
}

/** Copies of `parts`, in order, as views of one new exact-size allocation (empty ones share EMPTY). */
export function packed(parts: Buffer[]): Buffer[] {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const block = Buffer.alloc(total);
  let off = 0;
  return parts.map((p) => {
    if (p.length === 0) return EMPTY;
    p.copy(block, off);
    const view = block.subarray(off, off + p.length);
    off += p.length;
    return view;
  });
}
