import { ESP_HEADER_LENGTH, ESP_ICV_LENGTH, ESP_IV_LENGTH, ESP_NEXT_HEADER_IPV4, espPacketLength, writeEspTrailer } from '../wire/esp.js';
import { isIpv4Fragment, newIpv4Header, type Ipv4Header } from '../wire/ipv4.js';
import type { Child } from './child.js';
import type { OutboundDropCounts } from './counters.js';
import { newFlow, readIpv4Flow, type Flow } from './flow.js';
import { MAX_UDP_PAYLOAD } from './modes.js';
import type { SaPair } from './sa-pair.js';
import { SealRun } from './seal-run.js';
import type { Spd } from './spd.js';
import type { EspEvent } from './types.js';
import type { UdpSender } from './io.js';

/** Most an outbound packet grows by: ESP header, IV, 3 padding bytes, trailer, ICV, and up to 7 to align the next one. */
export const ESP_MAX_OVERHEAD = ESP_HEADER_LENGTH + ESP_IV_LENGTH + 3 + 2 + ESP_ICV_LENGTH + 7;

/** What the outbound path reads of the data path's state (its maps and counters, shared). */
export interface OutboundState {
  readonly children: Map<string, Child>;
  readonly spd: Spd;
  readonly drops: OutboundDropCounts;
  readonly udp: UdpSender;
  readonly emit: (e: EspEvent) => void;
}

/**
 * The outbound half of the data path: SPD, SA choice and ESP layout per packet, every run of
 * packets on one SA sealed in one native call (SealRun), the sealed packets handed to the UDP
 * sender in order. Two ways in, one batch at a time:
 *  - sealPackets(): whole IPv4 packets (from a TUN); the payload is copied into the region;
 *  - beginTransport() / reserveTransport() / commitTransport() / endTransport(): a transport-mode
 *    payload the caller writes straight into the region (the overlay's UDP ‖ Geneve ‖ frame), so
 *    no IPv4 packet is built, copied and parsed again. Same decisions, same counters.
 * A packet no policy covers, or whose child has no usable SA, is dropped and counted, never sent.
 */
export class OutboundPath {
  private readonly flow: Flow = newFlow();
  private readonly ipHeader: Ipv4Header = newIpv4Header();
  private readonly sealRun = new SealRun();
  private region: Buffer = Buffer.alloc(0);
  /** Where the next packet's ESP header goes in the region. */
  private at = 0;
  /** The packet reserveTransport() reserved and commitTransport() has not yet taken. */
  private pendingPair: SaPair | null = null;
  private pendingChild: Child | null = null;
  private pendingLength = 0;
  private pendingNextHeader = 0;

  constructor(private readonly s: OutboundState) {}

  /** Whole IPv4 packets, e.g. read from the TUN: laid out, sealed and sent as one batch. */
  sealPackets(packets: Buffer[]): void {
    const n = packets.length;
    if (n === 0) return;
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += packets[i]!.length;
    this.beginTransport(n, bytes);
    for (let i = 0; i < n; i++) this.layOutPacket(packets[i]!);
    this.endTransport();
  }

  /**
   * Starts a batch of up to `count` packets whose payloads total at most `payloadBytes`; returns
   * the region they are laid out in (the UDP sender's, reused once the batch has left).
   */
  beginTransport(count: number, payloadBytes: number): Buffer {
    const bound = payloadBytes + count * ESP_MAX_OVERHEAD;
    const udp = this.s.udp;
    this.region = udp.allocate ? udp.allocate(bound) : Buffer.allocUnsafe(bound);
    this.at = 0;
    this.pendingPair = null;
    this.sealRun.begin(this.region);
    return this.region;
  }

  /**
   * Reserves the next transport-mode packet: `length` payload bytes of IP protocol `protocol`
   * from `src`:`srcPort` to `dst`:`dstPort` (ports -1 for a protocol without them). SPD, SA,
   * sequence number and IV are taken and SPI ‖ seq ‖ IV written. Returns the offset in the region
   * where the caller writes exactly `length` payload bytes before commitTransport(), or -1 when
   * the packet is dropped (counted by cause; nothing to commit).
   */
  reserveTransport(src: number, dst: number, protocol: number, srcPort: number, dstPort: number, length: number): number {
    const flow = this.flow;
    flow.src = src;
    flow.dst = dst;
    flow.protocol = protocol;
    flow.srcPort = srcPort;
    flow.dstPort = dstPort;
    const child = this.childFor(flow);
    if (child === null) return -1;
    const pair = child.outbound!;
    // Transport mode carries the IP payload between the SA's own addresses; a tunnel-mode SA
    // would need the whole packet, which this entry does not have.
    if (pair.mode !== 'transport' || src !== child.localAddr || dst !== child.remoteAddr) return (this.s.drops.policy++, -1);
    return this.reserve(pair, child, length, protocol);
  }

  /** Closes the packet reserveTransport() opened, once its payload is written: trailer, then into the seal run. */
  commitTransport(): void {
    const pair = this.pendingPair;
    if (pair === null) throw new Error('commitTransport without a reserved packet');
    this.pendingPair = null;
    const at = this.at;
    const inOffset = at + ESP_HEADER_LENGTH + ESP_IV_LENGTH;
    const length = this.pendingLength;
    const end = writeEspTrailer(this.region, inOffset, length, this.pendingNextHeader);
    const espLength = espPacketLength(length);
    this.sealRun.add(pair, this.pendingChild!, at, espLength, end - inOffset);
    this.pendingChild = null;
    this.at = at + ((espLength + 7) & ~7); // 8-byte aligned starts for the cipher
  }

  /** Seals the batch and hands it to the UDP sender (one flush). */
  endTransport(): void {
    if (this.pendingPair !== null) throw new Error('endTransport with a reserved packet not committed');
    // A packet that could not be sealed (a layout bug, never packet input) is dropped, never sent.
    this.s.drops.malformed += this.sealRun.finish(this.sendSealed);
    this.region = Buffer.alloc(0);
    this.s.udp.flush?.();
  }

  /** Hands one sealed packet to the UDP sender. */
  private readonly sendSealed = (region: Buffer, offset: number, length: number, child: Child): void => {
    const udp = this.s.udp;
    if (udp.sendAt) udp.sendAt(region, offset, length, child.spec.remotePort, child.remoteAddr);
    else udp.send(region.subarray(offset, offset + length), length, child.spec.remotePort, child.spec.remote);
  };

  /** SPD and SA of one outbound flow: the child whose pair carries it, or null (counted by cause). */
  private childFor(flow: Flow): Child | null {
    const s = this.s;
    const drops = s.drops;
    const policy = s.spd.lookupOutbound(flow);
    if (policy === null) return (drops.no_policy++, null);
    if (policy.action === 'drop') return (drops.policy++, null);
    const child = s.children.get(policy.name);
    const pair = child?.outbound;
    if (child === undefined || pair === undefined) return (drops.no_sa++, null);
    if (pair.expired) {
      pair.raiseEvents(s.emit);
      pair.outbound.refused++;
      return (drops.lifetime++, null);
    }
    return child;
  }

  /** Size, sequence number and header of the next packet; -1 when it is dropped (counted). */
  private reserve(pair: SaPair, child: Child, length: number, nextHeader: number): number {
    const drops = this.s.drops;
    if (espPacketLength(length) > MAX_UDP_PAYLOAD) return (drops.oversize++, -1);
    const ok = pair.outbound.reserveAt(this.region, this.at, length);
    pair.raiseEvents(this.s.emit);
    if (!ok) {
      pair.outbound.refused++;
      return (drops.lifetime++, -1);
    }
    this.pendingPair = pair;
    this.pendingChild = child;
    this.pendingLength = length;
    this.pendingNextHeader = nextHeader;
    return this.at + ESP_HEADER_LENGTH + ESP_IV_LENGTH;
  }

  /** SPD, SA and ESP layout of one whole IPv4 packet (tunnel: all of it; transport: its payload). */
  private layOutPacket(pkt: Buffer): void {
    const flow = this.flow;
    const ip = this.ipHeader;
    const drops = this.s.drops;
    if (!readIpv4Flow(pkt, 0, pkt.length, flow, ip)) return void drops.malformed++;
    const child = this.childFor(flow);
    if (child === null) return;
    const pair = child.outbound!;
    let from: number;
    let length: number;
    let nextHeader: number;
    if (pair.mode === 'tunnel') {
      from = 0;
      length = ip.totalLength;
      nextHeader = ESP_NEXT_HEADER_IPV4;
    } else {
      // Transport mode carries the IP payload; the peer rebuilds the header from the SA's
      // addresses, so the packet must be exactly between them and not a fragment.
      if (flow.src !== child.localAddr || flow.dst !== child.remoteAddr) return void drops.policy++;
      if (isIpv4Fragment(ip)) return void drops.malformed++;
      from = ip.payloadOffset;
      length = ip.payloadLength;
      nextHeader = flow.protocol;
    }
    const at = this.reserve(pair, child, length, nextHeader);
    if (at < 0) return;
    pkt.copy(this.region, at, from, from + length);
    this.commitTransport();
  }
}
