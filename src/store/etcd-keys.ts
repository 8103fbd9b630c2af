import { schemas, type CollectionName, type StoreDocs } from './documents.js';

/**
 * Where the typed documents live in etcd, and how a stored value is read back.
 *
 *   <prefix>/<collection>/<key>      value: the document as JSON
 *
 * The prefix is per cluster (`/overlay-ipsec/<cluster>`), so several clusters can share one
 * etcd. A key is URI-encoded into one path segment (subnet keys hold a '/'); node names, the
 * keys etcd roles grant on, are left as they are by that encoding. Values are plain JSON, so an
 * administrator can read them with etcdctl — and can also write garbage, which is why every value
 * is checked against its collection's schema when read.
 */

export const DEFAULT_CLUSTER = 'default';

export function clusterPrefix(cluster: string = DEFAULT_CLUSTER): string {
  return `/overlay-ipsec/${cluster}`;
}

/** Why a prefix cannot be used, or undefined: an absolute path without a trailing '/'. */
export function checkPrefix(prefix: string): string | undefined {
  if (!/^(\/[A-Za-z0-9._-]+)+$/.test(prefix)) return `prefix "${prefix}" must look like /overlay-ipsec/<cluster> (segments of letters, digits, '.', '_' or '-'; no trailing '/')`;
  return undefined;
}

/** Why a cluster name cannot be used, or undefined. */
export function checkClusterName(name: string): string | undefined {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name)) return `cluster name "${name}" must be 1-63 letters, digits, '.', '_' or '-'`;
  return undefined;
}

export function encodeStoreKey(key: string): string {
  if (key.length === 0 || key.length > 200) throw new Error(`store key "${key}": must be 1-200 characters`);
  return encodeURIComponent(key);
}

/** `<prefix>/<collection>/` — every key of the collection starts with it. */
export function collectionPrefix(prefix: string, c: CollectionName): string {
  return `${prefix}/${c}/`;
}

export function etcdKey(prefix: string, c: CollectionName, key: string): string {
  return collectionPrefix(prefix, c) + encodeStoreKey(key);
}

/** The end of etcd's range of every key starting with `p` (the prefix with its last byte + 1). */
export function prefixRangeEnd(p: string): Buffer {
  const b = Buffer.from(p);
  let i = b.length - 1;
  while (i >= 0 && b[i] === 0xff) i--;
  if (i < 0) return Buffer.from([0]);
  const end = Buffer.from(b.subarray(0, i + 1));
  end[i]! += 1;
  return end;
}

export type Decoded<T> = { ok: true; key: string; value: T } | { ok: false; problem: string };

/**
 * A value read from etcd under a collection's prefix: its store key and checked document, or
 * what is wrong with it (a key that is not one encoded segment, not JSON, not the schema).
 */
/** The store key of an etcd key under a collection's prefix, or what is wrong with it. */
export function decodeKey(prefix: string, c: CollectionName, fullKey: string): { ok: true; key: string } | { ok: false; problem: string } {
  const cp = collectionPrefix(prefix, c);
  if (!fullKey.startsWith(cp)) return { ok: false, problem: `not under ${cp}` };
  const enc = fullKey.slice(cp.length);
  let key: string;
  try {
    key = decodeURIComponent(enc);
  } catch {
    return { ok: false, problem: 'the key is not URI-encoded' };
  }
  if (key.length === 0 || key.length > 200 || encodeURIComponent(key) !== enc) return { ok: false, problem: 'not a store key (one URI-encoded path segment of 1-200 characters after the collection)' };
  return { ok: true, key };
}

/**
 * A value read from etcd under a collection's prefix: its store key and checked document, or
 * what is wrong with it (a key that is not one encoded segment, not JSON, not the schema).
 */
export function decodeEntry<C extends CollectionName>(prefix: string, c: C, fullKey: string, raw: Buffer): Decoded<StoreDocs[C]> {
  const k = decodeKey(prefix, c, fullKey);
  if (!k.ok) return k;
  let doc: unknown;
  try {
    doc = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    return { ok: false, problem: `not valid JSON (${(err as Error).message}; ${raw.length} bytes)` };
  }
  const r = schemas[c].safeParse(doc);
  if (!r.success) {
    const i = r.error.issues[0]!;
    return { ok: false, problem: `${i.path.length ? i.path.join('.') : '(document)'}: ${i.message}` };
  }
  return { ok: true, key: k.key, value: r.data as StoreDocs[C] };
}
