import { loadNative } from './tun.js';

/**
 * The TUN offload work of the native addon (native/offload.cc) on its own, without a device: what
 * a read of a vnet-header frame turns into, and which frames a batch write would issue. The data
 * path never calls these (the TUN does the same work internally); tests and tools do.
 */
interface OffloadAddon {
  offloadSplit(frame: Uint8Array): Buffer[];
  offloadCoalesce(packets: Uint8Array[]): Buffer[];
  offloadChecksum(bytes: Uint8Array, initial: number): Record<string, number>;
}

/** Length of the virtio_net_hdr in front of every frame on a vnet-header TUN. */
export const VNET_HDR_LENGTH = 10;

/** The virtio_net_hdr fields (host byte order on the wire of the TUN fd: little-endian here). */
export interface VnetHeader {
  /** 1 = VIRTIO_NET_HDR_F_NEEDS_CSUM */
  flags: number;
  /** 0 = none, 1 = TCPv4 */
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

export function writeVnetHeader(h: VnetHeader): Buffer {
  const b = Buffer.alloc(VNET_HDR_LENGTH);
  b[0] = h.flags;
  b[1] = h.gsoType;
  b.writeUInt16LE(h.hdrLen, 2);
  b.writeUInt16LE(h.gsoSize, 4);
  b.writeUInt16LE(h.csumStart, 6);
  b.writeUInt16LE(h.csumOffset, 8);
  return b;
}

export function readVnetHeader(b: Uint8Array): VnetHeader {
  const v = Buffer.from(b.buffer, b.byteOffset, VNET_HDR_LENGTH);
  return { flags: v[0]!, gsoType: v[1]!, hdrLen: v.readUInt16LE(2), gsoSize: v.readUInt16LE(4), csumStart: v.readUInt16LE(6), csumOffset: v.readUInt16LE(8) };
}

/** The complete IPv4 packets one frame read from the TUN becomes (RangeError when refused). */
export function offloadSplit(frame: Uint8Array): Buffer[] {
  return (loadNative() as unknown as OffloadAddon).offloadSplit(frame);
}

/** The frames (virtio_net_hdr ‖ packet) a batch write of `packets` issues. */
export function offloadCoalesce(packets: Uint8Array[]): Buffer[] {
  return (loadNative() as unknown as OffloadAddon).offloadCoalesce(packets);
}

/**
 * The folded one's-complement sum of `bytes` plus `initial` (below 2^32) by every checksum
 * implementation of the addon this CPU runs, keyed by name, the one in use first.
 */
export function offloadChecksums(bytes: Uint8Array, initial = 0): Record<string, number> {
  return (loadNative() as unknown as OffloadAddon).offloadChecksum(bytes, initial);
}
