import type { Etcd3, IKeyValue, IOptions, Lease } from 'etcd3';
import { schemas, type CollectionName, type StoreDocs } from './documents.js';
import { ConflictError, CorruptDocumentError, type Entry, type ListOptions, type PutOptions, type Store, type WatchEvent, type WatchOptions } from './store.js';
import { callWithDeadline } from './etcd-call.js';
import { collectionPrefix, decodeEntry, decodeKey, etcdKey, prefixRangeEnd } from './etcd-keys.js';
import { CollectionWatch, type Snapshot } from './etcd-watch.js';
import { newEtcdClient } from './etcd-tls.js';

/**
 * The Store on etcd (v3 API). One document per etcd key under a per-cluster prefix (etcd-keys.ts);
 * a document's revision is its key's mod_revision, so revisions grow across the whole store and
 * never repeat, and compare-and-swap is one transaction ("mod_revision == expected", 0 meaning
 * absent). Every call has a deadline and rejects with StoreUnavailableError when etcd cannot
 * answer in time (etcd-call.ts). Watches list then watch (etcd-watch.ts).
 *
 * `client` and `prefix` are public so the etcd-only parts of the control plane (leases,
 * election, liveness) share the connection; leases made through `lease()` are revoked by close().
 */

export interface EtcdTls {
  /** PEM: the CA that signed the etcd members' certificates. */
  ca: Buffer;
  /** PEM: this client's certificate and key (mutual TLS), when etcd asks for one. */
  cert?: Buffer;
  key?: Buffer;
}

export interface EtcdStoreOptions {
  endpoints: string[];
  prefix: string;
  tls?: EtcdTls;
  /** How long to wait for a connection to a member (ms). */
  dialTimeoutMs?: number;
  /** The deadline of every call, retries included (ms). */
  callTimeoutMs?: number;
}

export const DEFAULT_DIAL_TIMEOUT_MS = 3000;
export const DEFAULT_CALL_TIMEOUT_MS = 5000;
/** Keys fetched per range request when listing (a large collection comes in pages of one snapshot). */
const PAGE = 500;
/** How long close() waits for etcd to confirm watch cancellations and lease revocations. */
const CLOSE_WAIT_MS = 2000;

export class EtcdStore implements Store {
  readonly client: Etcd3;
  readonly prefix: string;
  private readonly callMs: number;
  private readonly watches = new Set<CollectionWatch<unknown>>();
  private readonly leases = new Set<Lease>();
  private readonly pendingCancels = new Set<Promise<void>>();
  /** Damaged values already counted, as `<etcd key>@<mod_revision>`. */
  private readonly badSeen = new Set<string>();
  private closed = false;

  constructor(o: EtcdStoreOptions) {
    if (o.endpoints.length === 0) throw new Error('etcd store: no endpoints');
    const scheme = o.tls ? 'https' : 'http';
    const opts: IOptions = {
      hosts: o.endpoints.map((e) => (/^https?:\/\//.test(e) ? e : `${scheme}://${e}`)),
      dialTimeout: o.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS,
      // Lists of a large cluster come in pages; allow generous pages all the same.
      grpcOptions: { 'grpc.max_receive_message_length': 64 << 20 },
    };
    this.client = newEtcdClient(opts, o.tls);
    this.prefix = o.prefix;
    this.callMs = o.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  }

  /** How many distinct damaged values (key and revision) this store has met. */
  get badDocuments(): number {
    return this.badSeen.size;
  }

  private call<T>(operation: string, fn: Parameters<typeof callWithDeadline<T>>[2]): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`etcd store: ${operation} after close`));
    return callWithDeadline(operation, this.callMs, fn);
  }

  private decodeOrThrow<C extends CollectionName>(c: C, kv: IKeyValue): Entry<StoreDocs[C]> {
    const fullKey = kv.key.toString('utf8');
    const d = decodeEntry(this.prefix, c, fullKey, kv.value);
    if (!d.ok) {
      this.badSeen.add(`${fullKey}@${kv.mod_revision}`);
      throw this.corrupt(c, fullKey, d.problem);
    }
    return { key: d.key, revision: Number(kv.mod_revision), value: d.value };
  }

  private corrupt(c: CollectionName, fullKey: string, problem: string): CorruptDocumentError {
    const k = decodeKey(this.prefix, c, fullKey);
    return new CorruptDocumentError(fullKey, problem, k.ok ? k.key : undefined);
  }

  async get<C extends CollectionName>(c: C, key: string): Promise<Entry<StoreDocs[C]> | undefined> {
    const k = etcdKey(this.prefix, c, key);
    const res = await this.call(`get ${k}`, (o) => this.client.kv.range({ key: Buffer.from(k) }, o));
    const kv = res.kvs[0];
    return kv ? this.decodeOrThrow(c, kv) : undefined;
  }

  /** Every key of a collection at one revision, page by page (a compaction between pages starts over). */
  private listRaw(c: CollectionName, keysOnly = false): Promise<Snapshot> {
    const p = collectionPrefix(this.prefix, c);
    const end = prefixRangeEnd(p);
    return this.call(`list ${p}`, async (o) => {
      const kvs: IKeyValue[] = [];
      let from = Buffer.from(p);
      let revision = 0;
      for (;;) {
        const res = await this.client.kv.range({ key: from, range_end: end, limit: PAGE, keys_only: keysOnly, ...(revision ? { revision } : {}) }, o);
        if (!revision) revision = Number(res.header.revision);
        kvs.push(...res.kvs);
        if (!res.more || res.kvs.length === 0) return { revision, kvs };
        from = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
      }
    });
  }

  async list<C extends CollectionName>(c: C, opts: ListOptions = {}): Promise<Entry<StoreDocs[C]>[]> {
    const snap = await this.listRaw(c);
    const out: Entry<StoreDocs[C]>[] = [];
    for (const kv of snap.kvs) {
      try {
        out.push(this.decodeOrThrow(c, kv));
      } catch (err) {
        if (!(err instanceof CorruptDocumentError) || !opts.onError) throw err;
        opts.onError(err);
      }
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async version(c: CollectionName): Promise<string> {
    const snap = await this.listRaw(c, true);
    return snap.kvs.map((kv) => `${kv.key.toString('utf8')}@${kv.mod_revision}`).join(' ');
  }

  async put<C extends CollectionName>(c: C, key: string, value: StoreDocs[C], opts: PutOptions = {}): Promise<number> {
    const r = schemas[c].safeParse(value);
    if (!r.success) throw new TypeError(`${c}/${key}: refusing to store an invalid document: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const k = etcdKey(this.prefix, c, key);
    const text = JSON.stringify(value);
    const expected = opts.expectedRevision;
    if (expected === undefined) {
      const res = await this.call(`put ${k}`, (o) => this.client.kv.put({ key: Buffer.from(k), value: Buffer.from(text) }, o));
      return Number(res.header.revision);
    }
    // A damaged value is replaced like any other (replaceCorrupt is implied): etcd keeps no
    // history to lose, and the CAS still decides who wins.
    const res = await this.call(`put ${k}`, (o) => this.client.if(k, 'Mod', '==', expected).then(this.client.put(k).value(text)).else(this.client.get(k)).options(o).commit());
    if (!res.succeeded) throw new ConflictError(c, key, expected, currentRevision(res.responses[0]?.response_range?.kvs));
    return Number(res.header.revision);
  }

  async delete<C extends CollectionName>(c: C, key: string, opts: PutOptions = {}): Promise<boolean> {
    const k = etcdKey(this.prefix, c, key);
    const expected = opts.expectedRevision;
    if (expected === undefined) {
      const res = await this.call(`delete ${k}`, (o) => this.client.kv.deleteRange({ key: Buffer.from(k) }, o));
      return Number(res.deleted) > 0;
    }
    const res = await this.call(`delete ${k}`, (o) => this.client.if(k, 'Mod', '==', expected).then(this.client.delete().key(k)).else(this.client.get(k)).options(o).commit());
    if (!res.succeeded) throw new ConflictError(c, key, expected, currentRevision(res.responses[0]?.response_range?.kvs));
    return Number(res.responses[0]?.response_delete_range?.deleted ?? 0) > 0;
  }

  watch<C extends CollectionName>(c: C, cb: (ev: WatchEvent<StoreDocs[C]>) => void, opts: WatchOptions = {}): () => void {
    if (this.closed) throw new Error('etcd store: watch after close');
    const reported = new Set<string>();
    const w = new CollectionWatch<StoreDocs[C]>({
      client: this.client,
      rangePrefix: collectionPrefix(this.prefix, c),
      decode: (fullKey, raw) => decodeEntry(this.prefix, c, fullKey, raw),
      decodeKey: (fullKey) => decodeKey(this.prefix, c, fullKey),
      list: () => this.listRaw(c),
      emit: cb,
      onBad: (fullKey, revision, problem) => {
        const id = `${fullKey}@${revision}`;
        this.badSeen.add(id);
        if (reported.has(id)) return;
        reported.add(id);
        opts.onError?.(this.corrupt(c, fullKey, problem));
      },
      onError: (err) => opts.onError?.(err),
    });
    this.watches.add(w as CollectionWatch<unknown>);
    w.start();
    return () => {
      this.watches.delete(w as CollectionWatch<unknown>);
      this.stopWatch(w as CollectionWatch<unknown>);
    };
  }

  /** Stops a watch and keeps its cancellation so close() waits for it. */
  private stopWatch(w: CollectionWatch<unknown>): void {
    w.stop();
    for (const p of w.cancelling) {
      const q: Promise<void> = p.finally(() => this.pendingCancels.delete(q));
      this.pendingCancels.add(q);
    }
  }

  /** A lease on this connection (kept alive by the client), revoked by close(). */
  lease(ttlSeconds: number): Lease {
    const l = this.client.lease(ttlSeconds);
    this.leases.add(l);
    // A lease that could not be kept is the owner's business (it listens to 'lost'); it must not be an unhandled 'error'.
    l.on('lost', () => this.leases.delete(l));
    return l;
  }

  /**
   * Cancels every watch, revokes every lease, then closes the client — in that order, because the
   * client neither stops lease keep-alives on close nor lets the process exit while a watch
   * stream is open. Waits at most CLOSE_WAIT_MS for etcd's answers (it may be down).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const w of this.watches) this.stopWatch(w);
    this.watches.clear();
    const revokes = [...this.leases].map((l) => l.revoke({ deadline: new Date(Date.now() + CLOSE_WAIT_MS) }).catch(() => l.release()));
    this.leases.clear();
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)));
    await Promise.race([Promise.all([...this.pendingCancels, ...revokes]), limit]);
    clearTimeout(timer);
    this.closed = true;
    this.client.close();
  }
}

function currentRevision(kvs: IKeyValue[] | undefined): number {
  const kv = kvs?.[0];
  return kv ? Number(kv.mod_revision) : 0;
}
