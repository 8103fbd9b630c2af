import { BufferArena } from '../util/arena.js';
import { ephemeralSourcePort } from './flow-hash.js';
import { GENEVE_UDP_PORT } from '../wire/geneve.js';
import { IPPROTO_UDP, IPV4_MIN_HEADER_LENGTH, writeIpv4Header } from '../wire/ipv4.js';
import type { EspTransportOut, TransportUnderlay, Underlay, UnderlaySink } from './underlay.js';

/**
 * The seam to a layer that carries whole IPv4 packets — the ESP data path with IPsec on. Outbound
 * packets go to `out` (e.g. `pkts => espDataPath.onTunPackets(pkts)`); the other layer gives
 * decrypted IPv4(UDP(Geneve)) packets back through deliver() (e.g. as its TunWriter), or — ESP
 * transport mode — their UDP payloads and addresses through deliverTransport() and endBatch(). Since the
 * source port travels inside ESP, any port works: the RFC 8926 ephemeral range is used.
 * `out` must be done with the packets when it returns (the ESP data path seals them at once):
 * their buffers come from an arena reused for the next send().
 * Given the ESP layer's in-place entry (`esp`: EspDataPath's beginTransport … endTransport), the
 * seam is also a TransportUnderlay: the engine then writes each packet's UDP payload straight
 * into the region ESP seals, and `out` sees no packet.
 */
const TRANSPORT_HEADER = IPV4_MIN_HEADER_LENGTH;

export class PacketUnderlay implements Underlay {
  readonly transport: TransportUnderlay | undefined;
  private sink: UnderlaySink | undefined;
  private closed = false;
  /** Packets delivered before start() or after close(), dropped. */
  dropped = 0;
  /** The other layer consumes sent packets before send() returns: their space is reused. */
  private readonly arena = new BufferArena(1 << 20);

  constructor(private readonly out: (packets: Buffer[]) => void, esp?: EspTransportOut) {
    this.transport = esp ? this.transportTo(esp) : undefined;
  }

  private transportTo(esp: EspTransportOut): TransportUnderlay {
    return {
      carries: () => true,
      begin: (count, payloadBytes) => esp.beginTransport(count, payloadBytes),
      reserve: (src, dst, srcPort, length) => {
        if (this.closed) return (this.dropped++, -1);
        return esp.reserveTransport(src, dst, IPPROTO_UDP, srcPort, GENEVE_UDP_PORT, length);
      },
      commit: () => esp.commitTransport(),
      end: () => esp.endTransport(),
    };
  }

  sourcePort(flowHash: number): number {
    return ephemeralSourcePort(flowHash);
  }

  allocate(length: number): Buffer {
    return this.arena.take(length);
  }

  send(packets: Buffer[]): void {
    try {
      if (!this.closed && packets.length > 0) this.out(packets);
    } finally {
      this.arena.reset();
    }
  }

  /** Inbound whole IPv4 packets from the other layer. */
  deliver(packets: Buffer[]): void {
    if (!this.sink || this.closed) {
      this.dropped += packets.length;
      return;
    }
    this.sink.fromIpv4(packets);
  }

  /** Inbound transport-mode payloads from the other layer (see UnderlaySink.fromTransport). */
  deliverTransport(buf: Buffer, offset: number, length: number, src: number, dst: number, protocol: number): void {
    const sink = this.sink;
    if (!sink || this.closed) {
      this.dropped++;
      return;
    }
    if (sink.fromTransport) {
      sink.fromTransport(buf, offset, length, src, dst, protocol);
      return;
    }
    // A sink without the transport entry gets the whole packet, its IPv4 header rebuilt.
    const packet = Buffer.allocUnsafe(TRANSPORT_HEADER + length);
    writeIpv4Header(packet, 0, { src, dst, protocol, payloadLength: length, ttl: 64 });
    buf.copy(packet, TRANSPORT_HEADER, offset, offset + length);
    sink.fromIpv4([packet]);
  }

  /** The other layer's batch is over: the sink writes what it collected. */
  endBatch(): void {
    if (this.sink && !this.closed) this.sink.flushInbound?.();
  }

  counters(): Record<string, number> {
    return { dropped_not_running: this.dropped };
  }

  async start(sink: UnderlaySink): Promise<void> {
    this.sink = sink;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.sink = undefined;
  }
}
