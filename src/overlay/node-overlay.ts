import type { OverlayEngine } from './engine.js';
import { ENCAP_OVERHEAD, OFF_UDP } from './geneve-layout.js';
import type { TransportUnderlay, Underlay, UnderlaySink } from './underlay.js';

/** Bytes an in-place packet adds in front of the inner packet: UDP ‖ Geneve ‖ Ethernet. */
const TRANSPORT_OVERHEAD = ENCAP_OVERHEAD - OFF_UDP;

/** What the driver needs of a TUN (src/native/tun.ts's Tun fits; tests may pass a fake). */
export interface TunPort {
  readonly name: string;
  onPackets(cb: (packets: Buffer[]) => void): void;
  write(packet: Uint8Array): boolean;
  writeBatch(packets: Uint8Array[]): number;
  close(): void;
}

/**
 * The thin driver around the engine: TUN batches → encapsulate → underlay; underlay → decapsulate
 * → TUN. It owns no policy; everything it decides is the engine's.
 */
export class NodeOverlay implements UnderlaySink {
  /** Inner packets the kernel refused on TUN write. */
  tunWriteFailures = 0;
  private started = false;
  private readonly outBatch: Buffer[] = [];
  private readonly inBatch: Buffer[] = [];
  private readonly allocate: ((length: number) => Buffer) | undefined;

  constructor(readonly engine: OverlayEngine, readonly tun: TunPort, readonly underlay: Underlay) {
    this.allocate = underlay.allocate ? (length) => underlay.allocate!(length) : undefined;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.underlay.start(this);
    this.engine.setSourcePortPicker((h) => this.underlay.sourcePort(h));
    this.tun.onPackets((packets) => this.fromTun(packets));
  }

  /** Outbound: one TUN read batch. */
  fromTun(packets: Buffer[]): void {
    const t = this.underlay.transport;
    if (t === undefined) {
      const batch = this.outBatch;
      for (const p of packets) {
        const out = this.engine.encapsulate(p, this.allocate);
        if (out) batch.push(out);
      }
      this.sendWhole();
      return;
    }
    this.fromTunInPlace(packets, t);
  }

  /**
   * Outbound with an underlay that seals in place: packets for the peers it carries are written
   * straight into its region (UDP ‖ Geneve ‖ frame, no outer IPv4 packet built); the rest go to
   * send() whole, after the sealed batch.
   */
  private fromTunInPlace(packets: Buffer[], t: TransportUnderlay): void {
    const engine = this.engine;
    const src = engine.localUnderlay;
    const n = packets.length;
    let region: Buffer | undefined;
    try {
      for (let i = 0; i < n; i++) {
        const p = packets[i]!;
        const peer = engine.route(p);
        if (peer === undefined) continue;
        if (!t.carries(peer.underlay)) {
          const length = OFF_UDP + engine.routedTransportLength;
          const out = this.allocate ? this.allocate(length) : Buffer.allocUnsafe(length);
          engine.writeEncapsulated(p, out);
          this.outBatch.push(out);
          continue;
        }
        if (region === undefined) {
          let bytes = 0;
          for (let j = i; j < n; j++) bytes += packets[j]!.length + TRANSPORT_OVERHEAD;
          region = t.begin(n - i, bytes);
        }
        const at = t.reserve(src, peer.underlay, engine.routedPort, engine.routedTransportLength);
        if (at < 0) continue;
        engine.writeTransportPayload(p, region, at);
        t.commit();
      }
    } finally {
      try {
        if (region !== undefined) t.end();
      } finally {
        this.sendWhole();
      }
    }
  }

  /** Sends the whole packets collected for send(). */
  private sendWhole(): void {
    const batch = this.outBatch;
    if (batch.length > 0) {
      const all = batch.slice();
      batch.length = 0;
      this.underlay.send(all);
    }
  }

  fromUdp(src: number, payload: Buffer): void {
    const inner = this.engine.decapsulateUdp(src, payload);
    if (inner && !this.tun.write(inner)) this.tunWriteFailures++;
  }

  fromUdpBatch(payloads: Buffer[], srcs: ArrayLike<number>): void {
    const batch = this.inBatch;
    for (let i = 0; i < payloads.length; i++) {
      const inner = this.engine.decapsulateUdp(srcs[i]!, payloads[i]!);
      if (inner) batch.push(inner);
    }
    this.writeInbound();
  }

  fromIpv4(packets: Buffer[]): void {
    const batch = this.inBatch;
    for (const p of packets) {
      const inner = this.engine.decapsulateIpv4(p);
      if (inner) batch.push(inner);
    }
    this.writeInbound();
  }

  fromTransport(buf: Buffer, offset: number, length: number, src: number, dst: number, protocol: number): void {
    const inner = this.engine.decapsulateTransport(src, dst, protocol, buf, offset, length);
    if (inner) this.inBatch.push(inner);
  }

  flushInbound(): void {
    this.writeInbound();
  }

  /** One TUN write for the inbound batch (TCP segments of a flow coalesce there). */
  private writeInbound(): void {
    const batch = this.inBatch;
    if (batch.length > 0) {
      this.tunWriteFailures += batch.length - this.tun.writeBatch(batch);
      batch.length = 0;
    }
  }

  /** Underlay first (no more inbound writes to the TUN), then the TUN. */
  async stop(): Promise<void> {
    await this.underlay.close();
    this.tun.close();
  }
}
