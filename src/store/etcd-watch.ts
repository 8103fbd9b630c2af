import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from 'etcd3';
import type { Decoded } from './etcd-keys.js';
import { StoreUnavailableError, type WatchEvent } from './store.js';

/**
 * One watch of one collection in etcd, as the Store interface promises it: the current contents
 * first, then every change, in order.
 *
 * It lists the collection at a revision R (one consistent snapshot), then watches from R+1, so
 * nothing falls between the two. When the watch ends for any reason — etcd compacted past the
 * revision it needed, the stream broke, a member went away — it lists again and reports only
 * the differences from what its caller already saw (changed keys as 'put', vanished ones as
 * 'delete'), then watches from the new revision. Re-listing on a broken stream, rather than
 * trusting the client to resume, is deliberate: the client resumes from a revision it takes from
 * the watch's creation header, which can skip events that were in flight.
 *
 * Values that are not documents of the collection (garbage, a wrong schema, a foreign key) are
 * reported once per revision through `onBad` and skipped; a key whose value turns bad keeps the
 * last good value its caller saw (no 'delete' for it: the document is damaged, not gone).
 */

export interface Snapshot {
  revision: number;
  kvs: IKeyValue[];
}

export interface CollectionWatchDeps<T> {
  client: Etcd3;
  /** `<prefix>/<collection>/` */
  rangePrefix: string;
  decode(fullKey: string, raw: Buffer): Decoded<T>;
  decodeKey(fullKey: string): { ok: true; key: string } | { ok: false; problem: string };
  /** The collection at one revision (deadline and retries inside). */
  list(): Promise<Snapshot>;
  emit(ev: WatchEvent<T>): void;
  /** A value that cannot be used: its etcd key, revision and what is wrong. */
  onBad(fullKey: string, revision: number, problem: string): void;
  onError(err: Error): void;
}

const RELIST_FIRST_MS = 100;
const RELIST_MAX_MS = 2000;

export class CollectionWatch<T> {
  /** Live keys the caller has seen, with the revision it saw. */
  private readonly known = new Map<string, number>();
  private watcher: Watcher | undefined;
  private generation = 0;
  private stopped = false;
  private unavailableReported = false;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Cancellations in flight; the store waits for them before closing the client. */
  readonly cancelling = new Set<Promise<void>>();

  constructor(private readonly d: CollectionWatchDeps<T>) {}

  start(): void {
    void this.resync(RELIST_FIRST_MS);
  }

  stop(): void {
    this.stopped = true;
    this.generation++;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.dropWatcher();
  }

  private dropWatcher(): void {
    const w = this.watcher;
    if (!w) return;
    this.watcher = undefined;
    w.removeAllListeners();
    w.on('error', () => {}); // a late cancel answer must not become an unhandled 'error' event
    const p: Promise<void> = w.cancel().catch(() => {}).finally(() => this.cancelling.delete(p));
    this.cancelling.add(p);
  }

  private async resync(backoffMs: number): Promise<void> {
    const gen = ++this.generation;
    this.dropWatcher();
    let snap: Snapshot;
    try {
      snap = await this.d.list();
    } catch (err) {
      if (this.stopped || gen !== this.generation) return;
      if (!(err instanceof StoreUnavailableError) || !this.unavailableReported) this.d.onError(err as Error);
      if (err instanceof StoreUnavailableError) this.unavailableReported = true;
      this.retryTimer = setTimeout(() => void this.resync(Math.min(backoffMs * 2, RELIST_MAX_MS)), backoffMs);
      return;
    }
    if (this.stopped || gen !== this.generation) return;
    this.unavailableReported = false;
    this.applySnapshot(snap);
    if (this.stopped || gen !== this.generation) return;
    this.openWatcher(snap.revision + 1, gen);
  }

  private applySnapshot(snap: Snapshot): void {
    const listed = new Set<string>();
    for (const kv of snap.kvs) {
      const fullKey = kv.key.toString('utf8');
      const rev = Number(kv.mod_revision);
      const k = this.d.decodeKey(fullKey);
      if (k.ok) listed.add(k.key); // damaged or not, the key is there
      const doc = this.d.decode(fullKey, kv.value);
      if (!doc.ok) {
        this.d.onBad(fullKey, rev, doc.problem);
        continue;
      }
      if (this.known.get(doc.key) === rev) continue;
      this.known.set(doc.key, rev);
      this.deliver({ type: 'put', key: doc.key, revision: rev, value: doc.value });
    }
    for (const key of [...this.known.keys()])
      if (!listed.has(key)) {
        this.known.delete(key);
        this.deliver({ type: 'delete', key, revision: snap.revision });
      }
  }

  private openWatcher(fromRevision: number, gen: number): void {
    const w = this.d.client.watch().prefix(this.d.rangePrefix).startRevision(String(fromRevision)).watcher();
    this.watcher = w;
    const current = (): boolean => !this.stopped && gen === this.generation;
    w.on('data', (res: IWatchResponse) => {
      if (!current()) return;
      for (const ev of res.events) {
        if (!current()) return;
        this.applyEvent(ev.type, ev.kv);
      }
    });
    // Compaction past our revision, or an unexpected cancel: list again.
    w.on('error', () => {
      if (current()) void this.resync(RELIST_FIRST_MS);
    });
    w.on('disconnected', () => {
      if (current()) void this.resync(RELIST_FIRST_MS);
    });
  }

  private applyEvent(type: 'Put' | 'Delete', kv: IKeyValue): void {
    const fullKey = kv.key.toString('utf8');
    const rev = Number(kv.mod_revision);
    if (type === 'Delete') {
      const k = this.d.decodeKey(fullKey);
      if (k.ok && this.known.delete(k.key)) this.deliver({ type: 'delete', key: k.key, revision: rev });
      return;
    }
    const doc = this.d.decode(fullKey, kv.value);
    if (!doc.ok) {
      this.d.onBad(fullKey, rev, doc.problem);
      return;
    }
    this.known.set(doc.key, rev);
    this.deliver({ type: 'put', key: doc.key, revision: rev, value: doc.value });
  }

  /** A throwing callback is the caller's error, reported; it must not break the stream. */
  private deliver(ev: WatchEvent<T>): void {
    try {
      this.d.emit(ev);
    } catch (err) {
      this.d.onError(err as Error);
    }
  }
}
