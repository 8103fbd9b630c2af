import { BufferArena } from '../util/arena.js';
import type { PacketUnderlay } from './packet-underlay.js';
import type { TransportUnderlay, Underlay, UnderlaySink } from './underlay.js';

/** Offset of the outer IPv4 destination in a packet the engine built. */
const OUTER_DST = 16;
const EMPTY = Buffer.alloc(0);

/**
 * The underlay of a node whose pairs can move between plain Geneve and Geneve in ESP while
 * traffic flows: each outbound packet goes, by its outer destination (the peer's underlay
 * address), to the plain UDP underlay or to the ESP seam (a PacketUnderlay in front of the IPsec
 * stack). Both deliver inbound Geneve to the same sink; which cleartext is accepted is the
 * engine's decision (OverlayEngine.setCleartextPeers). The ESP seam comes and goes with the
 * IPsec stack (attachEsp / detachEsp); the plain socket stays open the whole time, so cleartext
 * that claims to come from a peer is seen and counted even with IPsec on.
 */
export class SwitchingUnderlay implements Underlay {
  private esp: PacketUnderlay | undefined;
  private sink: UnderlaySink | undefined;
  /** Peers (underlay addresses) sent ESP; every other one plain. */
  private espPeers: ReadonlySet<number> = new Set();
  /** Every peer is sent ESP: no per-packet look-up. */
  private allEsp = false;
  private readonly arena = new BufferArena(1 << 20);
  private readonly toPlain: Buffer[] = [];
  private readonly toEsp: Buffer[] = [];
  /** Packets for an ESP peer while no ESP seam was attached (never sent in clear). */
  private espMissing = 0;
  /** The ESP seam's in-place way for the batch under way (begin() to end()), if it has one. */
  private batchEsp: TransportUnderlay | undefined;
  /**
   * Packets for ESP peers written in place into the seam's region (when the seam offers it);
   * the others go through send() as whole packets.
   */
  readonly transport: TransportUnderlay = {
    // Without a seam, or with one that has no in-place way, ESP peers' packets go to send().
    carries: (dst) => this.esp?.transport !== undefined && (this.allEsp || this.espPeers.has(dst)),
    begin: (count, payloadBytes) => {
      const t = this.esp?.transport;
      this.batchEsp = t;
      return t ? t.begin(count, payloadBytes) : EMPTY;
    },
    reserve: (src, dst, srcPort, length) => {
      const t = this.batchEsp;
      if (t === undefined) return (this.espMissing++, -1); // the seam went since carries() said yes
      return t.reserve(src, dst, srcPort, length);
    },
    commit: () => this.batchEsp!.commit(),
    end: () => {
      const t = this.batchEsp;
      this.batchEsp = undefined;
      t?.end();
    },
  };

  constructor(private readonly plain: Underlay) {}

  /** The peers sent ESP (`all`: every peer; a packet for an address not in the set goes plain). */
  setEspPeers(peers: ReadonlySet<number>, all: boolean): void {
    this.espPeers = peers;
    this.allEsp = all;
  }

  async attachEsp(esp: PacketUnderlay): Promise<void> {
    this.esp = esp;
    if (this.sink) await esp.start(this.sink);
  }

  /** The ESP seam goes (the stack is stopping); packets for ESP peers are dropped and counted from now. */
  async detachEsp(): Promise<void> {
    const esp = this.esp;
    this.esp = undefined;
    await esp?.close();
  }

  sourcePort(flowHash: number): number {
    return this.plain.sourcePort(flowHash);
  }

  allocate(length: number): Buffer {
    return this.arena.take(length);
  }

  send(packets: Buffer[]): void {
    try {
      if (this.allEsp) this.sendEsp(packets);
      else if (this.espPeers.size === 0) this.plain.send(packets);
      else this.split(packets);
    } finally {
      this.arena.reset();
    }
  }

  private split(packets: Buffer[]): void {
    const plain = this.toPlain;
    const esp = this.toEsp;
    for (const p of packets) (this.espPeers.has(p.readUInt32BE(OUTER_DST)) ? esp : plain).push(p);
    try {
      if (plain.length > 0) this.plain.send(plain.slice());
      if (esp.length > 0) this.sendEsp(esp.slice());
    } finally {
      plain.length = 0;
      esp.length = 0;
    }
  }

  private sendEsp(packets: Buffer[]): void {
    if (this.esp) this.esp.send(packets);
    else this.espMissing += packets.length;
  }

  async start(sink: UnderlaySink): Promise<void> {
    this.sink = sink;
    await this.plain.start(sink);
    if (this.esp) await this.esp.start(sink);
  }

  async close(): Promise<void> {
    await this.detachEsp();
    await this.plain.close();
  }

  counters(): Record<string, number> {
    return { ...this.plain.counters(), ...(this.esp?.counters() ?? {}), esp_not_running: this.espMissing };
  }
}
