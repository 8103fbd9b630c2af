import type { CollectionName, StoreDocs } from './documents.js';

/** One stored document with the revision it was read at (revisions start at 1 and only grow). */
export interface Entry<T> {
  key: string;
  revision: number;
  value: T;
}

export interface WatchEvent<T> {
  type: 'put' | 'delete';
  key: string;
  revision: number;
  /** The new value, for 'put'. */
  value?: T;
}

export interface PutOptions {
  /**
   * Compare-and-swap: write only if the key is at this revision now; 0 means "only if the key
   * does not exist (never written, or deleted)". Otherwise a ConflictError is thrown.
   */
  expectedRevision?: number;
  /**
   * The key's owner repairing it from its source of truth: a head revision that cannot be read
   * (CorruptDocumentError) does not block the write; the next revision goes on top of it and
   * the damaged file is kept beside it as `<file>.corrupt`, never deleted. Without it, writes to
   * a damaged key fail with the CorruptDocumentError. A delete with it removes a damaged key.
   */
  replaceCorrupt?: boolean;
}

export interface ListOptions {
  /**
   * Called with each document that cannot be read (CorruptDocumentError), which is then left out
   * of the list. Without it, such a document fails the whole list.
   */
  onError?: (err: Error) => void;
}

export interface WatchOptions {
  /** Called with documents that cannot be read (CorruptDocumentError), once per damaged file. */
  onError?: (err: Error) => void;
}

/**
 * Where the operator and the agents meet. Small on purpose, so that an etcd implementation
 * can follow: get / list / put with CAS / delete / watch over typed collections.
 */
export interface Store {
  get<C extends CollectionName>(collection: C, key: string): Promise<Entry<StoreDocs[C]> | undefined>;
  list<C extends CollectionName>(collection: C, opts?: ListOptions): Promise<Entry<StoreDocs[C]>[]>;
  /**
   * Each key of the collection with its revision, as text that changes whenever its listing
   * would, read without any document (a directory listing; an etcd keys-only range): for a
   * caller that only needs to know whether anything moved since it last listed.
   */
  version(collection: CollectionName): Promise<string>;
  /** Writes the document and returns its new revision. */
  put<C extends CollectionName>(collection: C, key: string, value: StoreDocs[C], opts?: PutOptions): Promise<number>;
  /** Deletes the key; false when it did not exist. With expectedRevision, a CAS like put. */
  delete<C extends CollectionName>(collection: C, key: string, opts?: PutOptions): Promise<boolean>;
  /**
   * Calls cb for every change to the collection, beginning with the current contents (one
   * 'put' per existing key). Returns a function that stops watching.
   */
  watch<C extends CollectionName>(collection: C, cb: (ev: WatchEvent<StoreDocs[C]>) => void, opts?: WatchOptions): () => void;
  close(): Promise<void>;
}

export class ConflictError extends Error {
  constructor(
    readonly collection: string,
    readonly key: string,
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`${collection}/${key}: expected revision ${expected === 0 ? '(absent)' : expected}, found ${actual === 0 ? '(absent)' : actual}`);
    this.name = 'ConflictError';
  }
}

/** A stored document that cannot be used: names the file and what is wrong with it. */
export class CorruptDocumentError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
    /** The store key it is stored under, when that much can be read. */
    readonly key?: string,
  ) {
    super(`corrupt store document ${file}: ${problem}`);
    this.name = 'CorruptDocumentError';
  }
}

/**
 * The store could not be reached within a call's deadline (etcd down, partitioned, or no
 * leader). Daemons treat it as "control plane unreachable", never as "the document is gone":
 * what they already hold stays in force until the store answers again.
 */
export class StoreUnavailableError extends Error {
  constructor(
    readonly operation: string,
    override readonly cause?: unknown,
  ) {
    super(`store unavailable: ${operation}${cause instanceof Error ? ` (${cause.message})` : ''}`);
    this.name = 'StoreUnavailableError';
  }
}

/**
 * An onError for list and watch that passes each distinct problem on once (a damaged document
 * is met again on every pass until someone repairs it; the log needs it once).
 */
export function reportOnce(report: (err: Error) => void, limit = 1000): (err: Error) => void {
  const seen = new Set<string>();
  return (err) => {
    if (seen.has(err.message)) return;
    if (seen.size >= limit) seen.clear();
    seen.add(err.message);
    report(err);
  };
}

/**
 * Read-modify-write with compare-and-swap, retried on conflict. `fn` gets the current value
 * (undefined when absent) and returns the new one, or undefined to leave the key alone.
 */
export async function update<C extends CollectionName>(
  store: Store,
  collection: C,
  key: string,
  fn: (cur: StoreDocs[C] | undefined, revision: number) => StoreDocs[C] | undefined,
  attempts = 20,
): Promise<{ revision: number; value: StoreDocs[C] } | undefined> {
  for (let i = 0; i < attempts; i++) {
    const cur = await store.get(collection, key);
    const next = fn(cur?.value, cur?.revision ?? 0);
    if (next === undefined) return undefined;
    try {
      const revision = await store.put(collection, key, next, { expectedRevision: cur?.revision ?? 0 });
      return { revision, value: next };
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
    }
  }
  throw new Error(`${collection}/${key}: still conflicting after ${attempts} attempts`);
}
