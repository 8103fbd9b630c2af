import { mkdir, readdir, rename, stat, unlink } from 'node:fs/promises';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { collections, schemas, type CollectionName, type StoreDocs } from './documents.js';
import { ConflictError, CorruptDocumentError, type Entry, type ListOptions, type PutOptions, type Store, type WatchEvent, type WatchOptions } from './store.js';
import { createExclusive, fsyncDir, sweepTemps, TEMP_PREFIX } from './atomic-file.js';
import { DirMonitor, type DirEvents } from './dir-monitor.js';
import { RevisionCache } from './revision-cache.js';

/**
 * The embedded store: a directory of JSON documents, one directory per collection.
 *
 *   <dir>/<collection>/<encoded key>.<revision>.json
 *
 * Each revision is its own file, created atomically and exclusively (temp file + fsync + link +
 * fsync dir). Whoever links revision n+1 first wins; the loser gets EEXIST and so a
 * ConflictError: compare-and-swap between processes without locks, and nothing a kill -9 at any
 * moment can leave half-written (a temp file at worst, which readers ignore and `open` sweeps).
 * The newest revision is the value; older ones are removed a grace period after the new one is
 * in place (their names must stay taken while a slow writer may still try to reuse them). A
 * delete writes a tombstone revision, kept so revisions never go back (which would defeat CAS).
 *
 * Processes in different network namespaces of one machine share it: it is only files.
 */

interface FileDoc {
  key: string;
  revision: number;
  deleted?: boolean;
  value?: unknown;
}

interface Head {
  revision: number;
  file: string;
}

const FILE_RE = /^(.+)\.([0-9]+)\.json$/;

/** Superseded revision files are kept this long, so their names stay taken (see `collect`). */
export const REVISION_GRACE_MS = 60_000;
/** A writer links its revision within this time of reading the key, or reads again. */
const MAX_READ_TO_LINK_MS = 10_000;

export function encodeKey(key: string): string {
  if (key.length === 0 || key.length > 200) throw new Error(`store key "${key}": must be 1-200 characters`);
  // Keep keys readable on disk; escape what a file name cannot hold or what would confuse parsing.
  return encodeURIComponent(key).replace(/\./g, '%2E');
}

export function decodeKey(enc: string): string {
  return decodeURIComponent(enc);
}

/** Watchers learn of changes from inotify; this rare rescan (jittered) catches a lost event. */
export const SAFETY_RESCAN_MS = 30_000;
/** Poll period of watchers when inotify cannot be used. */
export const POLL_MS = 500;

export interface FsStoreOptions {
  /** Mean time between safety rescans of a watched collection, in case an inotify event is lost (ms); default SAFETY_RESCAN_MS. */
  rescanMs?: number;
  /** Poll period when inotify cannot be used (ms); default POLL_MS. */
  pollMs?: number;
  /** Where directory change events come from (default inotify); tests inject lost or failing events. */
  dirEvents?: DirEvents;
  /** How long superseded revision files are kept (ms); default REVISION_GRACE_MS. */
  revisionGraceMs?: number;
}

export class FsStore implements Store {
  private readonly watchers = new Set<() => void>();
  /** One change source per watched collection, shared by all its watchers. */
  private readonly monitors = new Map<CollectionName, DirMonitor>();
  private readonly cache = new RevisionCache();
  private constructor(
    readonly dir: string,
    private readonly opts: FsStoreOptions,
  ) {}

  /** Opens (creating if needed) the store under `dir` and sweeps temp files of dead writers. */
  static async open(dir: string, opts: FsStoreOptions = {}): Promise<FsStore> {
    for (const c of collections) {
      await mkdir(path.join(dir, c), { recursive: true });
      await sweepTemps(path.join(dir, c));
    }
    return new FsStore(dir, opts);
  }

  private cdir(c: CollectionName): string {
    return path.join(this.dir, c);
  }

  /** The newest revision file of every key in a collection (tombstones included). */
  private async heads(c: CollectionName): Promise<Map<string, Head & { stale: string[] }>> {
    // Synchronous, as the reads below: the promise forms hand each call to the thread pool (a tenth of the agents' busy time while a 50-node mesh came up).
    const names = readdirSync(this.cdir(c));
    const out = new Map<string, Head & { stale: string[] }>();
    for (const n of names) {
      if (n.startsWith(TEMP_PREFIX)) continue;
      const m = FILE_RE.exec(n);
      if (!m) continue;
      const key = decodeKey(m[1]!);
      const revision = Number(m[2]);
      const cur = out.get(key);
      if (!cur) out.set(key, { revision, file: n, stale: [] });
      else if (revision > cur.revision) out.set(key, { revision, file: n, stale: [...cur.stale, cur.file] });
      else cur.stale.push(n);
    }
    // Only heads are ever read again: superseded revisions are not kept in memory, though their
    // files stay (for the grace period, and at rest until the key's next write).
    this.cache.keepOnly(this.cdir(c), [...out.values()].map((h) => h.file));
    return out;
  }

  private async headOf(c: CollectionName, key: string): Promise<(Head & { stale: string[] }) | undefined> {
    return (await this.heads(c)).get(key);
  }

  /** One revision file, read and checked (or as read before); undefined if it vanished (replaced meanwhile). */
  private async readDoc<C extends CollectionName>(c: C, file: string, key: string, revision: number, cached = true): Promise<{ deleted: boolean; value?: StoreDocs[C] } | undefined> {
    if (!cached) return this.readFileDoc(c, file, key, revision);
    // A synchronous stat of a file just listed is a few microseconds; the promise form costs ten
    // times that in bookkeeping, which is what the cache is here to save.
    const sig = statSync(path.join(this.cdir(c), file), { throwIfNoEntry: false });
    if (!sig) return undefined;
    const hit = this.cache.get<StoreDocs[C]>(this.cdir(c), file, sig);
    if (hit) return hit;
    const d = await this.readFileDoc(c, file, key, revision);
    if (d) this.cache.set(this.cdir(c), file, sig, d);
    return d;
  }

  private async readFileDoc<C extends CollectionName>(c: C, file: string, key: string, revision: number): Promise<{ deleted: boolean; value?: StoreDocs[C] } | undefined> {
    const full = path.join(this.cdir(c), file);
    let text: string;
    try {
      text = readFileSync(full, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    let doc: FileDoc;
    try {
      doc = JSON.parse(text) as FileDoc;
    } catch (err) {
      throw new CorruptDocumentError(full, `not valid JSON (${(err as Error).message}; ${text.length} bytes)`, key);
    }
    if (doc === null || typeof doc !== 'object') throw new CorruptDocumentError(full, 'not a JSON object', key);
    if (doc.key !== key) throw new CorruptDocumentError(full, `holds key ${JSON.stringify(doc.key)}, its name says ${JSON.stringify(key)}`, key);
    if (doc.revision !== revision) throw new CorruptDocumentError(full, `holds revision ${doc.revision}, its name says ${revision}`, key);
    if (doc.deleted) return { deleted: true };
    const r = schemas[c].safeParse(doc.value);
    if (!r.success) {
      const i = r.error.issues[0]!;
      throw new CorruptDocumentError(full, `value.${i.path.join('.')}: ${i.message}`, key);
    }
    return { deleted: false, value: r.data as StoreDocs[C] };
  }

  async get<C extends CollectionName>(c: C, key: string): Promise<Entry<StoreDocs[C]> | undefined> {
    for (let attempt = 0; ; attempt++) {
      const head = await this.headOf(c, key);
      if (!head) return undefined;
      const d = await this.readDoc(c, head.file, key, head.revision);
      if (!d) {
        if (attempt > 50) throw new Error(`${c}/${key}: keeps changing while read`);
        continue; // replaced between readdir and read: look again
      }
      return d.deleted ? undefined : { key, revision: head.revision, value: d.value! };
    }
  }

  async list<C extends CollectionName>(c: C, opts: ListOptions = {}): Promise<Entry<StoreDocs[C]>[]> {
    const heads = await this.heads(c);
    const out: Entry<StoreDocs[C]>[] = [];
    for (const [key, head] of heads) {
      let d;
      try {
        d = await this.readDoc(c, head.file, key, head.revision);
      } catch (err) {
        if (!(err instanceof CorruptDocumentError) || !opts.onError) throw err;
        opts.onError(err);
        continue;
      }
      if (!d) {
        // Replaced between readdir and read: read the key again on its own.
        const e = await this.get(c, key);
        if (e) out.push(e);
        continue;
      }
      if (!d.deleted) out.push({ key, revision: head.revision, value: d.value! });
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async version(c: CollectionName): Promise<string> {
    // Heads include tombstones and damaged documents: the text moves whenever the listing does
    // (and on the rare write that does not change it, which only costs the caller a listing).
    return [...(await this.heads(c))].map(([key, h]) => `${key}@${h.revision}`).sort().join(' ');
  }

  /** Current revision of a key: 0 when never written; `deleted` when the head is a tombstone. */
  private async current(c: CollectionName, key: string): Promise<{ revision: number; deleted: boolean; stale: string[]; file?: string }> {
    const head = await this.headOf(c, key);
    if (!head) return { revision: 0, deleted: true, stale: [] };
    const d = await this.readDoc(c, head.file, key, head.revision);
    if (!d) return this.current(c, key);
    return { revision: head.revision, deleted: d.deleted, stale: head.stale, file: head.file };
  }

  private async writeRevision(c: CollectionName, key: string, doc: Omit<FileDoc, 'revision'>, opts: PutOptions): Promise<number> {
    const enc = encodeKey(key);
    for (let attempt = 0; attempt < 1000; attempt++) {
      const readAt = performance.now();
      let damaged: string | undefined;
      let cur: Awaited<ReturnType<FsStore['current']>>;
      try {
        cur = await this.current(c, key);
      } catch (err) {
        if (!(err instanceof CorruptDocumentError) || !opts.replaceCorrupt) throw err;
        const head = (await this.headOf(c, key))!;
        damaged = head.file;
        cur = { revision: head.revision, deleted: true, stale: head.stale };
      }
      const liveRev = cur.deleted ? 0 : cur.revision;
      if (opts.expectedRevision !== undefined && opts.expectedRevision !== liveRev) throw new ConflictError(c, key, opts.expectedRevision, liveRev);
      const revision = cur.revision + 1;
      const file = path.join(this.cdir(c), `${enc}.${revision}.json`);
      // The exclusive create is only sound while the name of the revision we read the key at
      // cannot have been garbage-collected yet (see REVISION_GRACE_MS); a write that took
      // suspiciously long reads again instead of linking.
      if (performance.now() - readAt > MAX_READ_TO_LINK_MS) continue;
      const ok = await createExclusive(file, JSON.stringify({ ...doc, key, revision }) + '\n');
      if (!ok) {
        if (opts.expectedRevision !== undefined) throw new ConflictError(c, key, opts.expectedRevision, revision);
        continue; // someone else wrote meanwhile; last writer wins, so try on top of theirs
      }
      if (damaged) {
        // Kept for a post-mortem; the name no longer parses as a revision, so readers skip it.
        await rename(path.join(this.cdir(c), damaged), path.join(this.cdir(c), `${damaged}.corrupt`)).catch(() => {});
        await fsyncDir(this.cdir(c));
      }
      await this.collect(c, [...cur.stale, ...(cur.file ? [cur.file] : [])]);
      return revision;
    }
    throw new Error(`${c}/${key}: could not write after many attempts`);
  }

  /**
   * Removes superseded revision files once they are older than REVISION_GRACE_MS. They are not
   * removed at once because a file's *name* is what makes the next revision number exclusive: a
   * writer that read revision r may still be about to link r+1, and must then find r+1 taken.
   */
  private async collect(c: CollectionName, superseded: string[]): Promise<void> {
    const limit = Date.now() - (this.opts.revisionGraceMs ?? REVISION_GRACE_MS);
    let removed = 0;
    for (const o of superseded) {
      const full = path.join(this.cdir(c), o);
      const st = await stat(full).catch(() => undefined);
      if (!st || st.mtimeMs > limit) continue;
      await unlink(full).catch(() => {});
      removed++;
    }
    if (removed) await fsyncDir(this.cdir(c));
  }

  async put<C extends CollectionName>(c: C, key: string, value: StoreDocs[C], opts: PutOptions = {}): Promise<number> {
    const r = schemas[c].safeParse(value);
    if (!r.success) throw new TypeError(`${c}/${key}: refusing to store an invalid document: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return this.writeRevision(c, key, { key, value }, opts);
  }

  async delete<C extends CollectionName>(c: C, key: string, opts: PutOptions = {}): Promise<boolean> {
    let live: boolean;
    try {
      const cur = await this.current(c, key);
      if (cur.deleted && opts.expectedRevision === undefined) return false;
      live = !cur.deleted;
    } catch (err) {
      // A damaged head is deleted like a value (its owner removing it); writeRevision keeps the file.
      if (!(err instanceof CorruptDocumentError) || !opts.replaceCorrupt) throw err;
      live = true;
    }
    await this.writeRevision(c, key, { key, deleted: true }, opts);
    return live;
  }

  /** How many parsed revisions the store holds in memory (tests and diagnostics). */
  get cachedDocuments(): number {
    return this.cache.size;
  }

  /** How a collection's watchers learn of changes now: 'events' (inotify), 'poll', or 'idle' (none). */
  watchMode(c: CollectionName): 'events' | 'poll' | 'idle' {
    return this.monitors.get(c)?.mode ?? 'idle';
  }

  private monitor(c: CollectionName): DirMonitor {
    let m = this.monitors.get(c);
    if (!m) {
      m = new DirMonitor(this.cdir(c), { safetyRescanMs: this.opts.rescanMs ?? SAFETY_RESCAN_MS, pollMs: this.opts.pollMs ?? POLL_MS, ...(this.opts.dirEvents ? { events: this.opts.dirEvents } : {}) });
      this.monitors.set(c, m);
    }
    return m;
  }

  watch<C extends CollectionName>(c: C, cb: (ev: WatchEvent<StoreDocs[C]>) => void, opts: WatchOptions = {}): () => void {
    const seen = new Map<string, { revision: number; live: boolean }>();
    const reported = new Set<string>();
    let running = false;
    let again = false;
    let stopped = false;
    const scan = async (): Promise<void> => {
      if (stopped) return;
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        do {
          again = false;
          const heads = await this.heads(c);
          for (const [key, head] of heads) {
            const prev = seen.get(key);
            if (prev && prev.revision === head.revision) continue;
            let d;
            try {
              d = await this.readDoc(c, head.file, key, head.revision);
            } catch (err) {
              const id = `${head.file}`;
              if (!reported.has(id)) {
                reported.add(id);
                opts.onError?.(err as Error);
              }
              continue;
            }
            if (!d) {
              again = true;
              continue;
            }
            seen.set(key, { revision: head.revision, live: !d.deleted });
            if (stopped) return;
            if (!d.deleted) cb({ type: 'put', key, revision: head.revision, value: d.value! });
            else if (prev?.live) cb({ type: 'delete', key, revision: head.revision });
          }
          for (const [key, prev] of seen)
            if (!heads.has(key)) {
              seen.delete(key);
              if (prev.live && !stopped) cb({ type: 'delete', key, revision: prev.revision + 1 });
            }
        } while (again && !stopped);
      } catch (err) {
        if (!stopped) opts.onError?.(err as Error);
      } finally {
        running = false;
      }
    };
    const unsubscribe = this.monitor(c).subscribe(() => void scan());
    const stop = (): void => {
      stopped = true;
      unsubscribe();
      this.watchers.delete(stop);
    };
    this.watchers.add(stop);
    return stop;
  }

  /**
   * Reads every document and reports what cannot be used, plus leftover temp files
   * and superseded revisions. Used after crashes and by tests.
   */
  async check(): Promise<{ problems: string[]; documents: number }> {
    const problems: string[] = [];
    let documents = 0;
    for (const c of collections) {
      const names = await readdir(this.cdir(c));
      for (const n of names) {
        if (n.startsWith(TEMP_PREFIX)) continue;
        const m = FILE_RE.exec(n);
        if (!m) {
          problems.push(`${path.join(this.cdir(c), n)}: not a store document name`);
          continue;
        }
        try {
          const d = await this.readDoc(c, n, decodeKey(m[1]!), Number(m[2]), false); // the files, not what was read before
          if (d) documents++;
        } catch (err) {
          problems.push((err as Error).message);
        }
      }
    }
    return { problems, documents };
  }

  async close(): Promise<void> {
    for (const stop of [...this.watchers]) stop();
  }
}
