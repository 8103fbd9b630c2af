import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The shape of the C++ class in native/tun.cc. */
interface NativeTunDevice {
  readonly name: string;
  readonly fd: number;
  start(cb: (packets: Buffer[]) => void): void;
  stop(): void;
  write(packet: Uint8Array): number;
  writeBatch(packets: Uint8Array[]): number;
  close(): void;
}
/** The shape of the C++ class in native/udp.cc. */
export interface NativeUdpSocket {
  readonly fd: number;
  readonly port: number;
  start(cb: (datagrams: Buffer[], addrs: number[], ports: number[]) => void): void;
  sendBatch(bufs: Uint8Array[], lengths: number[], addrs: number[], ports: number[]): number;
  close(): void;
}
interface NativeAddon {
  TunDevice: new (name: string, batchLimit?: number) => NativeTunDevice;
  UdpSocket: new (address: string, port: number, batchLimit?: number, bufferBytes?: number) => NativeUdpSocket;
}

/** An open TUN device (IFF_TUN | IFF_NO_PI): raw IP packets in and out, no packet-info header. */
export interface Tun {
  /** The interface name the kernel gave (the one asked for, or tunN). */
  readonly name: string;
  readonly fd: number;
  /** Starts reading; `cb` gets every batch of packets read in one event-loop turn. */
  onPackets(cb: (packets: Buffer[]) => void): void;
  /** Stops reading (the device stays open). */
  pause(): void;
  /** Writes one packet; false when the kernel refused it (it is dropped). */
  write(packet: Uint8Array): boolean;
  /** Writes packets; returns how many the kernel took. */
  writeBatch(packets: Uint8Array[]): number;
  /** Stops reading and closes the fd; the kernel removes the device. Idempotent. */
  close(): void;
}

export interface OpenTunOptions {
  /** Most packets read per event-loop turn (1..4096, default 64). */
  batchLimit?: number;
}

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
  addon = createRequire(import.meta.url)(file) as NativeAddon;
  return addon;
}

/** Opens (creates) TUN device `name` ('' lets the kernel choose). Needs CAP_NET_ADMIN. */
export function openTun(name: string, opts: OpenTunOptions = {}): Tun {
  const dev = new (loadNative().TunDevice)(name, opts.batchLimit ?? 64);
  let closed = false;
  return {
    name: dev.name,
    fd: dev.fd,
    onPackets(cb) {
      dev.start((packets) => {
        // An exception must not vanish inside the native callback: rethrow it on a clean stack.
        try {
          cb(packets);
        } catch (err) {
          queueMicrotask(() => { throw err; });
        }
      });
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
