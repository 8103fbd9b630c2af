import {
  ESP_NEXT_HEADER_DUMMY,
  ESP_NEXT_HEADER_IPV4,
  newEspPacketView,
  newEspTrailerView,
  parseEspPacket,
  peekEspSpi,
  type EspPacketView,
  type EspTrailerView,
} from '../wire/esp.js';
import type { Child, ChildSpec } from './child.js';
import { OutboundPath } from './outbound-path.js';
import { OpenRun } from './open-run.js';
import { newDropCounts, newOutboundDropCounts, type DropCounts, type OutboundDropCounts } from './counters.js';
import { newFlow, readIpv4Flow, type Flow } from './flow.js';
import { newIpv4Header, type Ipv4Header } from '../wire/ipv4.js';
import { policyCoversInbound } from './spd.js';
import type { Sad } from './sad.js';
import type { SaPair } from './sa-pair.js';
import type { Spd } from './spd.js';
import { SaDatabase, type SaUsage } from './sa-database.js';
import { childStatus, type DataPathStatus } from './status.js';
import { TRANSPORT_HEADER_LENGTH, writeTransportHeader, transportInboundFlow } from './modes.js';
import type { DropCause, EspEvent } from './types.js';
import type { TunWriter, UdpSender } from './io.js';

export type { TunWriter, UdpSender } from './io.js';

export type { ChildSpec } from './child.js';
export type { SaUsage } from './sa-database.js';

export type { EspEvent } from './types.js';
export type { DataPathStatus, ChildStatus, SaStatus } from './status.js';

export interface EspDataPathOptions {
  tun: TunWriter;
  udp: UdpSender;
  /** Milliseconds; injected so lifetimes are testable. */
  now: () => number;
  onEvent?: (e: EspEvent) => void;
  /**
   * Called for each inbound packet refused as `unknown_spi` (after counting it), with its SPI and
   * sender: the owner may decide the sender lost its state (rebooted) and set up SAs again.
   */
  onUnknownSpi?: (spi: number, from: { address: string; port: number }) => void;
}

/**
 * The userspace ESP data path (the "device" of wireguard-go's tun/device/conn split): SAD, SPD
 * and the per-packet work between the TUN and the UDP socket. It never touches a socket or the
 * TUN itself: the daemon hands it packets and writer callbacks.
 *
 * Outbound (outbound-path.ts): TUN packet → SPD (first match) → the child's newest SA → seal →
 * UDP; or, transport mode, a payload its producer writes straight into the batch's region
 * (beginTransport…endTransport: the overlay's Geneve). A packet no policy covers, or whose child
 * has no usable SA, is dropped and counted, never sent in clear.
 * Inbound: ESP → SAD by SPI → lengths → replay check → ICV → window update → trailer → mode
 * (tunnel: inner packet must fit the child's selectors; transport: IPv4 header rebuilt, or the
 * payload and addresses handed to TunWriter.writeTransport) → TUN.
 *
 * Both directions work on batches: every decision (policy, SA, sequence number, replay window,
 * counters by cause) is taken here per packet, and the addon only seals or opens a run of
 * packets of one SA in one call (SealRun, OpenRun), in place.
 */
export class EspDataPath {
  private readonly tun: TunWriter;
  private readonly udp: UdpSender;
  private readonly now: () => number;
  private readonly emit: (e: EspEvent) => void;
  private readonly unknownSpi: EspDataPathOptions['onUnknownSpi'];

  private readonly db = new SaDatabase();
  // The database's maps, held directly: the per-packet path reads them without a hop.
  private readonly children: Map<string, Child> = this.db.children;
  private readonly sad: Sad = this.db.sad;
  private readonly spd: Spd = this.db.spd;

  private readonly drops: DropCounts = newDropCounts();
  private readonly outboundDrops: OutboundDropCounts = newOutboundDropCounts();
  private dummyIn = 0;

  // Per-packet scratch, reused: the hot path allocates only the buffers it hands over.
  private readonly espView: EspPacketView = newEspPacketView();
  private readonly trailer: EspTrailerView = newEspTrailerView();
  private readonly flow: Flow = newFlow();
  private readonly ipHeader: Ipv4Header = newIpv4Header();
  private readonly openRun = new OpenRun();
  private inboundOut: Buffer[] = [];
  private readonly outbound: OutboundPath;

  constructor(opts: EspDataPathOptions) {
    this.tun = opts.tun;
    this.udp = opts.udp;
    this.now = opts.now;
    const onEvent = opts.onEvent;
    this.emit = onEvent ? (e) => onEvent(e) : () => {};
    this.unknownSpi = opts.onUnknownSpi;
    this.outbound = new OutboundPath({ children: this.children, spd: this.spd, drops: this.outboundDrops, udp: this.udp, emit: this.emit });
  }

  /**
   * Installs an SA pair for a child; a second install under its name is a rekey (see
   * SaDatabase.install). Throws RangeError for a spec that cannot work.
   */
  installChild(spec: ChildSpec): void {
    this.db.install(spec, this.now());
  }

  /** Removes one SA pair by its inbound SPI; the child's traffic is `no_sa` until another comes. */
  removeSa(spiIn: number): void {
    this.db.removeSa(spiIn);
  }

  /** Outbound leaves this pair (a DELETE for it is about to be sent); inbound goes on until removeSa. */
  retireOutbound(spiIn: number): void {
    this.db.retireOutbound(spiIn);
  }

  /** Removes a child: all its SA pairs and its policy. */
  removeChild(name: string): void {
    this.db.removeChild(name);
  }

  /** Names of the installed children. */
  childNames(): string[] {
    return [...this.children.keys()];
  }

  /** Traffic of one SA pair and when it last received (strongSwan's query_sa); undefined: no such SA. */
  usage(spiIn: number): SaUsage | undefined {
    return this.db.usage(spiIn);
  }

  /** Packets from the TUN dropped so far for want of a policy or an SA (what trap policies react to). */
  outboundMisses(): number {
    return this.outboundDrops.no_policy + this.outboundDrops.no_sa;
  }

  /**
   * Outbound: packets read from the TUN. Each is laid out as an ESP packet in one region for the
   * batch (the SA's header and IV, payload, trailer), every run of packets on one SA is sealed in
   * one native call, and the sealed packets leave in order.
   */
  onTunPackets(packets: Buffer[]): void {
    this.outbound.sealPackets(packets);
  }

  /**
   * Outbound transport-mode payloads written in place by the caller (see OutboundPath): a batch
   * of up to `count` packets with at most `payloadBytes` of payload; returns the region.
   */
  beginTransport(count: number, payloadBytes: number): Buffer {
    return this.outbound.beginTransport(count, payloadBytes);
  }

  /** The next packet's payload offset in the region, or -1 when it is dropped (see OutboundPath.reserveTransport). */
  reserveTransport(src: number, dst: number, protocol: number, srcPort: number, dstPort: number, length: number): number {
    return this.outbound.reserveTransport(src, dst, protocol, srcPort, dstPort, length);
  }

  /** The reserved packet's payload is written. */
  commitTransport(): void {
    this.outbound.commitTransport();
  }

  /** Seals the batch and sends it. */
  endTransport(): void {
    this.outbound.endTransport();
  }

  /**
   * Inbound: one ESP packet of `length` bytes at `offset` in `datagram` (the SPI first; the
   * caller has already split ESP from IKE on port 4500), received from `from`. Processed at once
   * (queueUdpEsp + flushUdpEsp).
   */
  onUdpEsp(datagram: Buffer, offset: number, length: number, from: { address: string; port: number }): void {
    this.queueUdpEsp(datagram, offset, length, from);
    this.flushUdpEsp();
  }

  /**
   * Inbound, batched: checks what needs no cryptography now (SA by SPI, framing, lifetime,
   * replay window) and queues the packet; flushUdpEsp() opens the queue — in place, in
   * `datagram`, one native call per run of packets on one SA — and delivers it. A batch lives
   * in one buffer: a packet in another buffer flushes the queue first. The caller flushes
   * before `datagram` is reused (at the end of each batch of datagrams read).
   */
  queueUdpEsp(datagram: Buffer, offset: number, length: number, from: { address: string; port: number }): void {
    const inBounds = offset >= 0 && length >= 0 && offset + length <= datagram.length;
    const spi = inBounds ? peekEspSpi(datagram, offset, length) : -1;
    if (spi < 0) {
      this.drops.malformed++;
      return;
    }
    const pair = this.sad.get(spi);
    if (pair === undefined) {
      this.drops.unknown_spi++;
      this.unknownSpi?.(spi, from);
      return;
    }
    const view = this.espView;
    let cause: DropCause | null;
    if (parseEspPacket(datagram, offset, length, view) !== null) cause = 'malformed';
    else if (pair.expired) {
      pair.raiseEvents(this.emit);
      cause = 'lifetime';
    } else cause = pair.inbound.admit(view);
    if (cause !== null) {
      this.drops[cause]++;
      pair.inbound.drops[cause]++;
      return;
    }
    const run = this.openRun;
    if (run.buffer !== null && run.buffer !== datagram) this.flushUdpEsp();
    run.add(datagram, pair, view.seq, offset, view.ciphertextOffset, view.ciphertextLength);
  }

  /** Opens and delivers what queueUdpEsp() queued: the TUN writer gets the batch in one write. */
  flushUdpEsp(): void {
    const run = this.openRun;
    if (run.count === 0) return;
    const buf = run.buffer!;
    try {
      run.open();
      for (let i = 0; i < run.count; i++) {
        const pair = run.pairs[i]!;
        const cause = this.finishInbound(pair, buf, run.seqs[i]!, run.ciphertextOffsets[i]!, run.results[i]!);
        if (cause !== null) {
          this.drops[cause]++;
          pair.inbound.drops[cause]++;
        }
      }
      const now = this.now();
      for (const pair of run.runPairs) pair.inbound.noteUse(now);
    } finally {
      run.reset();
    }
    const out = this.inboundOut;
    if (out.length > 0) {
      this.inboundOut = [];
      this.tun.write(out);
    }
    this.tun.endBatch?.();
  }

  /**
   * One opened packet: ICV result, window, trailer, then the mode's checks; a usable packet is
   * added to the TUN batch (tunnel: the inner packet where it was decrypted; transport: handed
   * to writeTransport, or given its rebuilt IPv4 header in a buffer of the writer's).
   */
  private finishInbound(pair: SaPair, buf: Buffer, seq: number, at: number, n: number): DropCause | null {
    const trailer = this.trailer;
    const cause = pair.inbound.finishOpen(seq, n, buf, at, trailer);
    pair.raiseEvents(this.emit);
    if (cause !== null) return cause;
    // The peer sends on this pair, so it has installed it: our outbound may move to it now.
    pair.outboundDeferred = false;

    if (trailer.nextHeader === ESP_NEXT_HEADER_DUMMY) {
      // RFC 4303 §2.6: a dummy packet for traffic-flow confidentiality; authentic, discarded.
      pair.inbound.dummyPackets++;
      this.dummyIn++;
      return null;
    }

    const child = this.children.get(pair.child);
    if (child === undefined) return 'policy';
    const flow = this.flow;
    const length = trailer.payloadLength;
    if (pair.mode === 'tunnel') {
      if (trailer.nextHeader !== ESP_NEXT_HEADER_IPV4) return 'malformed';
      const ip = this.ipHeader;
      if (!readIpv4Flow(buf, at, length, flow, ip)) return 'malformed';
      if (!policyCoversInbound(child.policy, flow)) return 'policy';
      // Bytes after the inner packet's total length are TFC padding (RFC 4303 §2.7): cut them.
      this.inboundOut.push(buf.subarray(at, at + ip.totalLength));
      return null;
    }
    const total = TRANSPORT_HEADER_LENGTH + length;
    if (total > 0xffff) return 'malformed';
    const protocol = trailer.nextHeader;
    transportInboundFlow(child.remoteAddr, child.localAddr, protocol, buf, at, length, flow);
    if (!policyCoversInbound(child.policy, flow)) return 'policy';
    const tun = this.tun;
    if (tun.writeTransport) {
      tun.writeTransport(buf, at, length, child.remoteAddr, child.localAddr, protocol);
      return null;
    }
    const out = tun.allocate ? tun.allocate(total) : Buffer.allocUnsafe(total);
    buf.copy(out, TRANSPORT_HEADER_LENGTH, at, at + length);
    writeTransportHeader(out, 0, child.remoteAddr, child.localAddr, protocol, total);
    this.inboundOut.push(out);
    return null;
  }

  /** Applies time-based lifetimes; call about once a second. */
  tick(): void {
    this.db.checkAges(this.now(), this.emit);
  }

  status(): DataPathStatus {
    const now = this.now();
    return {
      children: [...this.children.values()].map((c) => childStatus(c, now)),
      drops: { ...this.drops },
      outbound_drops: { ...this.outboundDrops },
      dummy_in: this.dummyIn,
    };
  }
}
