import type { IkeHeader } from './header.js';
import type { DecodedFragment } from './message.js';

/** Bounds that keep a peer from making us hold unbounded fragment state. */
export const MAX_FRAGMENTS = 64;
export const MAX_REASSEMBLED_BYTES = 64 * 1024;

/**
 * Collects the authenticated fragments of one message (RFC 7383 §2.6). A fragment of a newer message
 * ID replaces the collection; duplicates are ignored.
 */
export class FragmentAssembler {
  private messageId = -1;
  private total = 0;
  private parts = new Map<number, DecodedFragment>();
  private bytes = 0;

  /** Returns the whole message's content once complete, else undefined. */
  add(f: DecodedFragment): { header: IkeHeader; innerFirst: number; content: Buffer } | undefined | 'rejected' {
    if (f.total > MAX_FRAGMENTS) return 'rejected';
    if (f.header.messageId !== this.messageId || f.total !== this.total) {
      if (f.header.messageId === this.messageId && f.total < this.total) return 'rejected';
      this.messageId = f.header.messageId;
      this.total = f.total;
      this.parts.clear();
      this.bytes = 0;
    }
    if (this.parts.has(f.number)) return undefined;
    if (this.bytes + f.content.length > MAX_REASSEMBLED_BYTES) return 'rejected';
    this.parts.set(f.number, f);
    this.bytes += f.content.length;
    if (this.parts.size < this.total) return undefined;
    const first = this.parts.get(1)!;
    const content = Buffer.concat([...Array(this.total).keys()].map((i) => this.parts.get(i + 1)!.content));
    this.parts.clear();
    this.bytes = 0;
    this.messageId = -1;
    return { header: first.header, innerFirst: first.innerFirst, content };
  }
}
