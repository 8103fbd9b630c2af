import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The shape of the C++ class in native/tun.cc. */
interface NativeTunDevice {
  readonly name: string;
  readonly fd: number;
  /** 'tso': super-packets read (split natively) and coalesced writes; 'vnet': coalesced writes only. */
  readonly offload: 'tso' | 'vnet' | 'none';
  /** Frames read but refused (malformed, an unsupported GSO type). */
  readonly dropped: number;
  start(cb: (count: number) => void, slab: Uint8Array, meta: Uint32Array): void;
  stop(): void;
  write(packet: Uint8Array): number;
  writeBatch(packets: Uint8Array[]): number;
  close(): void;
}
/** The shape of the C++ class in native/udp.cc. */
export interface NativeUdpSocket {
  readonly fd: number;
  readonly port: number;
  /** 'gso+gro', 'gso', 'gro' or 'none': the kernel UDP segmentation offloads in use. */
  readonly offload: string;
  start(cb: (count: number) => void, slab: Uint8Array, meta: Uint32Array): void;
  /** How many datagrams the kernel dealt with (sent, or refused for good); fewer than count: see refusal. */
  sendBatch(bufs: Uint8Array[], count: number, lengths: Uint32Array, addrs: Uint32Array, ports: Uint32Array, offsets?: Uint32Array): number;
  /** Calls cb once, when the send buffer has room again. */
  waitWritable(cb: () => void): void;
  /** Why the last sendBatch stopped early: EAGAIN (11), ENOBUFS (105); 0 when it took everything. */
  readonly refusal: number;
  /** Datagrams the kernel refused for good (no route, too big, …). */
  readonly sendErrors: number;
  /** ICMP error reports read off the socket's error queue. */
  readonly errorReports: number;
  close(): void;
}
interface NativeAddon {
  TunDevice: new (name: string, batchLimit?: number, offload?: boolean) => NativeTunDevice;
  UdpSocket: new (address: string, port: number, batchLimit?: number, bufferBytes?: number, gso?: boolean) => NativeUdpSocket;
}

/** An open TUN device (IFF_TUN | IFF_NO_PI): raw IP packets in and out, no packet-info header. */
export interface Tun {
  /** The interface name the kernel gave (the one asked for, or tunN). */
  readonly name: string;
  readonly fd: number;
  /** Which offloads the device uses ('tso', 'vnet' or 'none'). */
  readonly offload: string;
  /**
   * Starts reading; `cb` gets every batch of packets read in one event-loop turn. The packets are
   * views into a buffer the next batch overwrites: copy what must outlive the callback.
   */
  onPackets(cb: (packets: Buffer[]) => void): void;
  /** Stops reading (the device stays open). */
  pause(): void;
  /** Writes one packet; false when the kernel refused it (it is dropped). */
  write(packet: Uint8Array): boolean;
  /** Writes packets; returns how many the kernel took. In-order TCP segments of a flow are coalesced. */
  writeBatch(packets: Uint8Array[]): number;
  /** Stops reading and closes the fd; the kernel removes the device. Idempotent. */
  close(): void;
}

export interface OpenTunOptions {
  /** Most reads per event-loop turn (1..4096, default 64); a TSO read may yield many packets. */
  batchLimit?: number;
  /**
   * IFF_VNET_HDR with TSO and checksum offload (default true): the kernel hands over TCP
   * super-packets (split into MTU-sized segments natively) and batch writes coalesce TCP
   * segments into super-packets. OVERLAY_IPSEC_TUN_OFFLOAD=0 turns it off, for comparisons.
   */
  offload?: boolean;
}

/**
 * The slab a batch is split into. A batch ends early when the next super-packet would not fit
 * (it then opens the next batch), so this bounds a batch's bytes, not its reads.
 */
const TUN_SLAB_BYTES = 2 << 20;
/** Most packets one batch may hold (offset, length pairs). */
const TUN_MAX_PACKETS = 8192;

/** The package root: the nearest directory upwards holding our package.json. */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'overlay-ipsec') return dir;
      } catch { /* not ours; keep going up */ }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error('overlay-ipsec package root not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

let addon: NativeAddon | undefined;

/** Loads build/Release/oi_native.node once; a clear message when `npm install` did not build it. */
export function loadNative(): NativeAddon {
  if (addon) return addon;
  const file = path.join(packageRoot(), 'build', 'Release', 'oi_native.node');
  if (!existsSync(file)) {
    throw new Error(`native addon missing: ${file} (run \`npm install\` or \`npx node-gyp rebuild\` in the package root)`);
  }
  const loaded = createRequire(import.meta.url)(file) as NativeAddon;
  // A worktree rebuilt with `npm run build` (TypeScript only) can run new code on an old addon:
  // say so once, here, rather than fail on the first refused send.
  if (typeof loaded.UdpSocket.prototype.waitWritable !== 'function') {
    throw new Error(`native addon out of date: ${file} lacks UdpSocket.waitWritable (run \`node scripts/build-native.mjs\` or \`npm install\` in the package root)`);
  }
  addon = loaded;
  return addon;
}

/** Opens (creates) TUN device `name` ('' lets the kernel choose). Needs CAP_NET_ADMIN. */
export function openTun(name: string, opts: OpenTunOptions = {}): Tun {
  const offload = opts.offload ?? process.env['OVERLAY_IPSEC_TUN_OFFLOAD'] !== '0';
  const dev = new (loadNative().TunDevice)(name, opts.batchLimit ?? 64, offload);
  let closed = false;
  let slab: Buffer | undefined;
  let meta: Uint32Array | undefined;
  return {
    name: dev.name,
    fd: dev.fd,
    offload: dev.offload,
    onPackets(cb) {
      // Made on first use: a TUN only written to (or never started) costs no slab.
      const s = slab ??= Buffer.allocUnsafeSlow(TUN_SLAB_BYTES);
      const m = meta ??= new Uint32Array(TUN_MAX_PACKETS * 2);
      dev.start((count) => {
        const packets = new Array<Buffer>(count);
        for (let i = 0; i < count; i++) packets[i] = s.subarray(m[2 * i]!, m[2 * i]! + m[2 * i + 1]!);
        // An exception must not vanish inside the native callback: rethrow it on a clean stack.
        try {
          cb(packets);
        } catch (err) {
          queueMicrotask(() => { throw err; });
        }
      }, s, m);
    },
    pause() {
      if (!closed) dev.stop();
    },
    write(packet) {
      return dev.write(packet) === 0;
    },
    writeBatch(packets) {
      return dev.writeBatch(packets);
    },
    close() {
      if (closed) return;
      closed = true;
      dev.close();
    },
  };
}
