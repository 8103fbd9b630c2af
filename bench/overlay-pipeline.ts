// In-process cost of the overlay's userspace per-packet work, IPsec off against IPsec on: node A's
// TUN batch → engine → underlay (plain UDP, or ESP sealed) → "wire" → node B's receive path →
// TUN batch, with the real classes (engine, NodeOverlay, underlays, ESP data path, the batched
// socket's JS queue over a stand-in native socket that copies each datagram as the kernel would).
// No kernel, no TUN: what the agents' JavaScript, N-API and OpenSSL cost per GB, in CPU time.
// Run: npm run build && node dist/bench/overlay-pipeline.js [seconds] [rounds] [only rows whose name contains this]
import { randomBytes } from 'node:crypto';
import { EspDataPath } from '../src/esp/datapath.js';
import { wrapBatchUdp } from '../src/native/udp.js';
import type { NativeUdpSocket } from '../src/native/tun.js';
import { OverlayEngine, type LocalSpec } from '../src/overlay/engine.js';
import { NodeOverlay, type TunPort } from '../src/overlay/node-overlay.js';
import { PacketUnderlay } from '../src/overlay/packet-underlay.js';
import type { PeerSpec } from '../src/overlay/peer-table.js';
import type { Underlay, UnderlaySink } from '../src/overlay/underlay.js';
import { parseIpv4 } from '../src/wire/address.js';
import { cidrSelector } from '../src/wire/traffic-selector.js';
import { buildIpv4UdpPacket } from '../src/wire/udp.js';
import { classifyUdpEncap, newUdpEncapClass } from '../src/wire/udp-encap.js';

const seconds = Number(process.argv[2] ?? 3);
const rounds = Number(process.argv[3] ?? 2);
/** Only the rows whose name contains this (e.g. 'in place'), for profiling one of them. */
const only = process.argv[4] ?? '';
const INNER = 1400;
/** Packets per TUN read: one 64 KB TSO super-packet split into MTU-sized segments. */
const BATCH = 44;

const A: LocalSpec = { node: 'a', systemId: 'aaaaaa00', underlay: '192.168.7.21', subnet: '10.254.0.0/24', vni: 1 };
const B: LocalSpec = { node: 'b', systemId: 'bbbbbb00', underlay: '192.168.7.22', subnet: '10.254.1.0/24', vni: 2 };
const asPeer = (l: LocalSpec): PeerSpec => ({ node: l.node, systemId: l.systemId, underlay: l.underlay, subnet: l.subnet, vni: l.vni });
const inner = buildIpv4UdpPacket({ src: parseIpv4('10.254.0.2')!, dst: parseIpv4('10.254.1.2')!, srcPort: 40000, dstPort: 5201, ttl: 64 }, randomBytes(INNER - 28));

class CountingTun implements TunPort {
  readonly name = 'bench';
  packets = 0;
  bytes = 0;
  private cb: ((p: Buffer[]) => void) | undefined;
  onPackets(cb: (p: Buffer[]) => void): void { this.cb = cb; }
  read(p: Buffer[]): void { this.cb!(p); }
  write(p: Uint8Array): boolean { this.packets++; this.bytes += p.length; return true; }
  writeBatch(ps: Uint8Array[]): number { for (const p of ps) { this.packets++; this.bytes += p.length; } return ps.length; }
  close(): void {}
}

/** A stand-in native socket: sendBatch copies each datagram into a receive slab, as the kernel would, and hands the batch on. */
function wire(deliver: (slab: Buffer, meta: Uint32Array, count: number) => void): NativeUdpSocket {
  const slab = Buffer.allocUnsafeSlow(4 << 20);
  const meta = new Uint32Array(4 * 1024);
  return {
    fd: -1, port: 4500, offload: 'none', refusal: 0, sendErrors: 0, errorReports: 0,
    start() {},
    waitWritable() {},
    close() {},
    sendBatch(bufs, count, lengths, addrs, ports, offsets) {
      let at = 0;
      for (let i = 0; i < count; i++) {
        const b = bufs[i]!;
        const off = offsets ? offsets[i]! : 0;
        slab.set(b.subarray(off, off + lengths[i]!), at);
        meta[4 * i] = at;
        meta[4 * i + 1] = lengths[i]!;
        meta[4 * i + 2] = parseIpv4(A.underlay)!;
        meta[4 * i + 3] = ports[i]!;
        at += lengths[i]!;
      }
      deliver(slab, meta, count);
      return count;
    },
  };
}

/** IPsec off: Geneve in UDP from one sending socket to B's receive path (as UdpUnderlay and its batch callback do). */
class PlainWire implements Underlay {
  private readonly sock;
  constructor(sink: () => UnderlaySink) {
    this.sock = wrapBatchUdp(wire((slab, meta, count) => {
      const datagrams: Buffer[] = new Array(count);
      const from = new Uint32Array(count);
      for (let i = 0; i < count; i++) {
        datagrams[i] = slab.subarray(meta[4 * i]!, meta[4 * i]! + meta[4 * i + 1]!);
        from[i] = meta[4 * i + 2]!;
      }
      sink().fromUdpBatch!(datagrams, from);
    }), 64);
  }
  sourcePort(): number { return 40001; }
  allocate(length: number): Buffer { return Buffer.allocUnsafe(length); }
  send(packets: Buffer[]): void {
    for (const p of packets) this.sock.queueAt(p, 28, p.length - 28, p.readUInt32BE(16), 6081);
    this.sock.flush();
  }
  async start(): Promise<void> {}
  async close(): Promise<void> {}
  counters(): Record<string, number> { return {}; }
}

interface Pair { a: NodeOverlay; b: NodeOverlay; tunA: CountingTun; tunB: CountingTun }

function plainPair(): Pair {
  const tunA = new CountingTun();
  const tunB = new CountingTun();
  let b!: NodeOverlay;
  const a = new NodeOverlay(new OverlayEngine({ local: A, peers: [asPeer(B)] }), tunA, new PlainWire(() => b));
  b = new NodeOverlay(new OverlayEngine({ local: B, peers: [asPeer(A)] }), tunB, new PacketUnderlay(() => {}));
  return { a, b, tunA, tunB };
}

/** IPsec on, as the agent wires it: ESP transport mode, 4500's receive loop (host/udp.ts), transport payloads to B's overlay. */
function ipsecPair(inPlace: boolean): Pair {
  const kAB = randomBytes(36);
  const kBA = randomBytes(36);
  const tunA = new CountingTun();
  const tunB = new CountingTun();
  let seamB!: PacketUnderlay;
  const espB = new EspDataPath({
    tun: {
      write: (p) => seamB.deliver(p),
      writeTransport: (payload, offset, length, src, dst, protocol) => seamB.deliverTransport(payload, offset, length, src, dst, protocol),
      endBatch: () => seamB.endBatch(),
    },
    udp: { send: () => {} },
    now: () => 0,
  });
  const cls = newUdpEncapClass();
  const from = { address: A.underlay, port: 4500 };
  const sock = wrapBatchUdp(wire((slab, meta, count) => {
    for (let i = 0; i < count; i++) {
      classifyUdpEncap(slab, meta[4 * i]!, meta[4 * i + 1]!, cls);
      espB.queueUdpEsp(slab, meta[4 * i]!, meta[4 * i + 1]!, from);
    }
    espB.flushUdpEsp();
  }), 64);
  const espA = new EspDataPath({
    tun: { write: () => {} },
    udp: {
      send: () => {},
      sendAt: (region, off, len, port, addr) => sock.queueAt(region, off, len, addr, port),
      flush: () => sock.flush(),
      allocate: (n) => sock.allocate(n),
    },
    now: () => 0,
  });
  const tsA = [cidrSelector(`${A.underlay}/32`, 17)];
  const tsB = [cidrSelector(`${B.underlay}/32`, 17)];
  const base = { name: 'ovn', mode: 'transport' as const, remotePort: 4500 };
  espA.installChild({ ...base, local: A.underlay, remote: B.underlay, localTs: tsA, remoteTs: tsB, spiIn: 0x2002, spiOut: 0x1001, keyIn: kBA, keyOut: kAB });
  espB.installChild({ ...base, local: B.underlay, remote: A.underlay, localTs: tsB, remoteTs: tsA, spiIn: 0x1001, spiOut: 0x2002, keyIn: kAB, keyOut: kBA });
  const seamA = new PacketUnderlay((p) => espA.onTunPackets(p), inPlace ? espA : undefined);
  seamB = new PacketUnderlay((p) => espB.onTunPackets(p), espB);
  const a = new NodeOverlay(new OverlayEngine({ local: A, peers: [asPeer(B)] }), tunA, seamA);
  const b = new NodeOverlay(new OverlayEngine({ local: B, peers: [asPeer(A)] }), tunB, seamB);
  return { a, b, tunA, tunB };
}

async function run(name: string, pair: Pair): Promise<void> {
  if (!name.includes(only)) return;
  await pair.a.start();
  await pair.b.start();
  const batch = Array.from({ length: BATCH }, () => inner);
  for (let i = 0; i < 2000; i++) pair.tunA.read(batch); // warm-up: JIT
  pair.tunB.bytes = 0;
  pair.tunB.packets = 0;
  const cpu0 = process.cpuUsage();
  const end = performance.now() + seconds * 1000;
  let sent = 0;
  while (performance.now() < end) {
    for (let i = 0; i < 64; i++) pair.tunA.read(batch);
    sent += 64 * BATCH;
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  if (pair.tunB.packets !== sent) throw new Error(`${name}: ${sent} sent, ${pair.tunB.packets} arrived`);
  const gb = pair.tunB.bytes / 1e9;
  console.log(`${name.padEnd(28)} ${(cpuS / gb).toFixed(3)} CPU s/GB of pod packets (${sent} packets of ${INNER} bytes, ${cpuS.toFixed(2)} CPU s)`);
}

for (let r = 0; r < rounds; r++) {
  await run('plain', plainPair());
  await run('ipsec (whole packets)', ipsecPair(false));
  await run('ipsec (in place)', ipsecPair(true));
}
