// Shared by the overlay tests: a TUN stand-in and pod packets.
import type { TunPort } from '../../src/overlay/node-overlay.js';
import type { Underlay, UnderlaySink } from '../../src/overlay/underlay.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { buildIpv4UdpPacket } from '../../src/wire/udp.js';

/** Records what the overlay writes; the test pushes "read" batches with read(). */
export class FakeTun implements TunPort {
  readonly written: Buffer[] = [];
  /** writeBatch calls. */
  writes = 0;
  closed = false;
  private cb: ((p: Buffer[]) => void) | undefined;
  constructor(readonly name: string) {}
  onPackets(cb: (p: Buffer[]) => void): void { this.cb = cb; }
  read(packets: Buffer[]): void { this.cb!(packets); }
  write(p: Uint8Array): boolean { this.written.push(Buffer.from(p)); return true; }
  writeBatch(ps: Uint8Array[]): number { this.writes++; for (const p of ps) this.written.push(Buffer.from(p)); return ps.length; }
  close(): void { this.closed = true; }
}

/** A pod's UDP packet (valid IPv4 and UDP checksums). */
export function podUdp(src: string, dst: string, srcPort: number, dstPort: number, text: string): Buffer {
  return buildIpv4UdpPacket({ src: parseIpv4(src)!, dst: parseIpv4(dst)!, srcPort, dstPort, ttl: 64 }, Buffer.from(text));
}

/** An underlay that records what it is asked to send, batch by batch. */
export class Recorder implements Underlay {
  sent: Buffer[][] = [];
  sourcePort(h: number): number {
    return 40000 + (h % 8);
  }
  send(packets: Buffer[]): void {
    this.sent.push(packets);
  }
  async start(_sink: UnderlaySink): Promise<void> {}
  async close(): Promise<void> {}
  counters(): Record<string, number> {
    return {};
  }
}
