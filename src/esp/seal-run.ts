import { ESP_HEADER_LENGTH, ESP_IV_LENGTH } from '../wire/esp.js';
import type { Child } from './child.js';
import type { SaPair } from './sa-pair.js';
import { DESC_WORDS, writeEspDescriptor } from './aead-descriptor.js';

const EMPTY = Buffer.alloc(0);

/** Where a sealed packet goes: its span of the region and its child's peer. */
export interface SealedSink {
  (region: Buffer, offset: number, length: number, child: Child): void;
}

/**
 * The outbound batch of one TUN read, sealed in one native call per SA: the data path lays each
 * packet out in one region (SPI ‖ seq ‖ IV from the SA, then payload ‖ padding ‖ trailer) and
 * adds it here; a change of SA seals the run so far; finish() seals the last run and hands every
 * sealed packet, in order, to the sink. Nothing is handed on unsealed: if a run could not be
 * sealed whole (a descriptor outside the region — a bug, never packet input), its unsealed
 * packets are dropped and finish() returns how many.
 */
export class SealRun {
  private desc = new Uint32Array(64 * DESC_WORDS);
  private offsets = new Uint32Array(64);
  private lengths = new Uint32Array(64);
  private sealed = new Uint8Array(64);
  private readonly children: Child[] = [];
  private count = 0;
  /** First packet of the run not yet sealed, and the SA it belongs to. */
  private runStart = 0;
  private runPair: SaPair | null = null;
  private region: Buffer = EMPTY;
  begin(region: Buffer): void {
    this.region = region;
    this.count = 0;
    this.runStart = 0;
    this.runPair = null;
  }

  /**
   * Adds the packet laid out at region[offset] (ESP length `length`, `encryptedLength` bytes to
   * encrypt after the IV) to the run of `pair`.
   */
  add(pair: SaPair, child: Child, offset: number, length: number, encryptedLength: number): void {
    if (pair !== this.runPair) {
      this.sealRun();
      this.runPair = pair;
    }
    const i = this.count;
    if (i === this.offsets.length) this.grow();
    writeEspDescriptor(this.desc, i, offset, offset + ESP_HEADER_LENGTH + ESP_IV_LENGTH, encryptedLength);
    this.offsets[i] = offset;
    this.lengths[i] = length;
    this.sealed[i] = 0;
    this.children[i] = child;
    this.count = i + 1;
  }

  /**
   * Seals the last run and hands every sealed packet to `sink`, in the order they were added.
   * Returns how many could not be sealed (and were dropped).
   */
  finish(sink: SealedSink): number {
    this.sealRun();
    const region = this.region;
    let unsealed = 0;
    for (let i = 0; i < this.count; i++) {
      if (this.sealed[i] === 1) sink(region, this.offsets[i]!, this.lengths[i]!, this.children[i]!);
      else unsealed++;
    }
    this.children.length = 0;
    this.count = 0;
    this.region = EMPTY;
    return unsealed;
  }

  private sealRun(): void {
    const pair = this.runPair;
    const n = this.count - this.runStart;
    if (pair !== null && n > 0) {
      const from = this.runStart * DESC_WORDS;
      const done = pair.outbound.sealBatch(this.region, n, from === 0 ? this.desc : this.desc.subarray(from));
      this.sealed.fill(1, this.runStart, this.runStart + done);
    }
    this.runStart = this.count;
  }

  private grow(): void {
    const size = this.offsets.length * 2;
    const desc = new Uint32Array(size * DESC_WORDS); desc.set(this.desc); this.desc = desc;
    const o = new Uint32Array(size); o.set(this.offsets); this.offsets = o;
    const l = new Uint32Array(size); l.set(this.lengths); this.lengths = l;
    const s = new Uint8Array(size); s.set(this.sealed); this.sealed = s;
  }
}
