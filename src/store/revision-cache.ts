/**
 * Parsed revision files, by file name and what stat says of the file. A revision file is written
 * once (temp file, fsync, link) and then never changes, so a file whose inode, size, mtime and
 * ctime are those it had when it was read and checked holds what it held then: listing a
 * collection costs a directory read and a stat per document instead of opening, reading and
 * checking every document again — at 100 agents each listing 100 nodes every pass, those reads
 * were most of an idle cluster's CPU. A file damaged in place (truncated, edited) no longer
 * matches and is read again, so damage is still reported by name.
 *
 * Only each key's newest revision is kept: a listing forgets every other name, gone from the
 * directory or superseded. Superseded files stay on disk a grace period, and at rest until their
 * key is written again; a cache that kept every name still in the directory held, in every agent,
 * each revision of each peer's report written while a cluster came up — O(nodes² × revisions).
 * Values are handed out as copies: callers may change what they get without changing what the
 * next caller reads.
 */

export interface CachedDoc<T> {
  deleted: boolean;
  value?: T;
}

/** The parts of a stat that change whenever a file's content could have. */
export interface FileSig {
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

interface Entry {
  sig: string;
  doc: CachedDoc<unknown>;
}

const sigOf = (s: FileSig): string => `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;

export class RevisionCache {
  private readonly dirs = new Map<string, Map<string, Entry>>();

  /** Call with the head revision files of each listing of a directory: forgets every other file. */
  keepOnly(dir: string, names: readonly string[]): void {
    const d = this.dirs.get(dir);
    if (!d || d.size === 0) return;
    const keep = new Set(names);
    for (const name of d.keys()) if (!keep.has(name)) d.delete(name);
  }

  /** Parsed revisions held, over every directory. */
  get size(): number {
    let n = 0;
    for (const d of this.dirs.values()) n += d.size;
    return n;
  }

  get<T>(dir: string, name: string, sig: FileSig): CachedDoc<T> | undefined {
    const e = this.dirs.get(dir)?.get(name);
    if (!e || e.sig !== sigOf(sig)) return undefined;
    return e.doc.deleted ? { deleted: true } : { deleted: false, value: structuredClone(e.doc.value) as T };
  }

  /** Remembers a file read and checked after `sig` was taken (only then: a damaged file is read again each time). */
  set<T>(dir: string, name: string, sig: FileSig, doc: CachedDoc<T>): void {
    let d = this.dirs.get(dir);
    if (!d) this.dirs.set(dir, (d = new Map()));
    d.set(name, { sig: sigOf(sig), doc: doc.deleted ? { deleted: true } : { deleted: false, value: structuredClone(doc.value) } });
  }
}
