import type { OverlayEngine } from './engine.js';
import type { Underlay, UnderlaySink } from './underlay.js';

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
    const batch = this.outBatch;
    for (const p of packets) {
      const out = this.engine.encapsulate(p, this.allocate);
      if (out) batch.push(out);
    }
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
