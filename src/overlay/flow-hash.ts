/**
 * A flow hash over the inner packet's addresses, protocol and (for unfragmented TCP, UDP, SCTP)
 * ports. It picks the outer UDP source port, so that one flow keeps one port (no reordering on
 * multipath underlays) while different flows spread (RFC 8926 §3.3). Reads bytes in place.
 */
const PROTO_TCP = 6;
const PROTO_UDP = 17;
const PROTO_SCTP = 132;

function mix(h: number, k: number): number {
  // murmur3's 32-bit block step: enough diffusion for port selection, cheap in JS integers.
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hash of the IPv4 packet starting at `off` in `buf` (its header already checked). */
export function flowHash(buf: Uint8Array, off: number): number {
  const ihl = (buf[off]! & 0x0f) * 4;
  const proto = buf[off + 9]!;
  const src = ((buf[off + 12]! << 24) | (buf[off + 13]! << 16) | (buf[off + 14]! << 8) | buf[off + 15]!) | 0;
  const dst = ((buf[off + 16]! << 24) | (buf[off + 17]! << 16) | (buf[off + 18]! << 8) | buf[off + 19]!) | 0;
  let h = mix(0x9747b28c, src);
  h = mix(h, dst);
  h = mix(h, proto);
  const fragmented = ((buf[off + 6]! & 0x3f) | buf[off + 7]!) !== 0; // MF or a fragment offset
  const total = (buf[off + 2]! << 8) | buf[off + 3]!;
  if (!fragmented && (proto === PROTO_TCP || proto === PROTO_UDP || proto === PROTO_SCTP) && total >= ihl + 4) {
    const p = off + ihl;
    h = mix(h, ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) | 0);
  }
  return finish(h);
}

/** RFC 8926 §3.3: the source port SHOULD come from the ephemeral range 49152–65535. */
export function ephemeralSourcePort(hash: number): number {
  return 49152 + (hash & 0x3fff);
}
