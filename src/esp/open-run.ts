import type { SaPair } from './sa-pair.js';
import { DESC_WORDS, writeEspDescriptor } from './aead-descriptor.js';

/**
 * Inbound ESP packets of one batch of datagrams, admitted (SA found, framing, lifetime, replay
 * check) and waiting to be opened: in place, in the datagrams' own buffer, one native call per
 * run of packets on one SA. After open() the caller finishes each packet in order (entry i:
 * pairs[i], seqs[i], the plaintext at ciphertextOffsets[i], results[i] its length or -1).
 */
export class OpenRun {
  count = 0;
  /** The buffer every queued packet lives in (a batch spans one buffer). */
  buffer: Buffer | null = null;
  readonly pairs: SaPair[] = [];
  /** The SA of each run open() found (one entry per run, not per packet), for use times. */
  readonly runPairs: SaPair[] = [];
  seqs = new Uint32Array(64);
  ciphertextOffsets = new Uint32Array(64);
  results = new Int32Array(64);
  private desc = new Uint32Array(64 * DESC_WORDS);

  /** Queues the packet whose SPI is at `offset` and whose ciphertext is `ciphertextLength` bytes at `ciphertextOffset`. */
  add(buffer: Buffer, pair: SaPair, seq: number, offset: number, ciphertextOffset: number, ciphertextLength: number): void {
    const i = this.count;
    if (i === this.seqs.length) this.grow();
    this.buffer = buffer;
    writeEspDescriptor(this.desc, i, offset, ciphertextOffset, ciphertextLength);
    this.pairs[i] = pair;
    this.seqs[i] = seq;
    this.ciphertextOffsets[i] = ciphertextOffset;
    this.count = i + 1;
  }

  /**
   * Opens every queued packet: results[i] is the plaintext length or -1 (bad ICV, or — never for
   * packets add() accepted — a descriptor outside the buffer).
   */
  open(): void {
    const buf = this.buffer;
    if (buf === null) return;
    let start = 0;
    while (start < this.count) {
      const pair = this.pairs[start]!;
      this.runPairs.push(pair);
      let end = start + 1;
      while (end < this.count && this.pairs[end] === pair) end++;
      const n = end - start;
      const desc = start === 0 ? this.desc : this.desc.subarray(start * DESC_WORDS);
      const results = start === 0 ? this.results : this.results.subarray(start);
      const done = pair.inbound.openBatch(buf, n, desc, results);
      for (let i = start + done; i < end; i++) this.results[i] = -1;
      start = end;
    }
  }

  /** Forgets the batch (pairs are released for the GC). */
  reset(): void {
    this.pairs.length = 0;
    this.runPairs.length = 0;
    this.count = 0;
    this.buffer = null;
  }

  private grow(): void {
    const size = this.seqs.length * 2;
    const desc = new Uint32Array(size * DESC_WORDS); desc.set(this.desc); this.desc = desc;
    const s = new Uint32Array(size); s.set(this.seqs); this.seqs = s;
    const c = new Uint32Array(size); c.set(this.ciphertextOffsets); this.ciphertextOffsets = c;
    this.results = new Int32Array(size);
  }
}
