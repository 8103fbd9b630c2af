import { readFile } from 'node:fs/promises';
import { FsStore } from './fs-store.js';
import type { EtcdStore, EtcdTls } from './etcd-store.js';
import { checkClusterName, clusterPrefix } from './etcd-keys.js';
import type { Store } from './store.js';

/**
 * Which store a daemon or command uses: the embedded directory store, or etcd. The command line
 * (`--store`, cli/store-options.ts) and store config files (store-config.ts) both come down to a
 * StoreSpec, and openStore() makes the store from it.
 */

/** Client TLS to etcd: PEM file paths, or the PEM text itself (a join file carries it inline). */
export interface StoreTls {
  ca?: string;
  cert?: string;
  key?: string;
  caPem?: string;
  certPem?: string;
  keyPem?: string;
}

export type StoreSpec =
  | { kind: 'fs'; dir: string }
  | { kind: 'etcd'; endpoints: string[]; prefix: string; tls?: StoreTls; dialTimeoutMs?: number; callTimeoutMs?: number };

/** A store option or file that cannot be used; `where` names it (an option, or file and key). */
export class StoreSpecError extends Error {
  constructor(
    readonly where: string,
    readonly problem: string,
  ) {
    super(`${where}: ${problem}`);
    this.name = 'StoreSpecError';
  }
}

/** `host:port`, `[v6]:port`, optionally with http:// or https://; why not, or undefined. */
export function checkEndpoint(e: string): string | undefined {
  const m = /^(?:(https?):\/\/)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):([0-9]{1,5})$/.exec(e);
  if (!m) return `endpoint "${e}" is not HOST:PORT`;
  const port = Number(m[4]);
  if (port < 1 || port > 65535) return `endpoint "${e}": port ${port} is out of range`;
  return undefined;
}

/**
 * `--store` text: `etcd://HOST:PORT[,HOST:PORT…]` (etcd), or `dir:PATH` (the directory store at
 * PATH). `cluster` picks the key prefix /overlay-ipsec/<cluster>. Throws StoreSpecError naming `option`.
 */
export function parseStoreOption(text: string, o: { option?: string; cluster?: string } = {}): StoreSpec {
  const option = o.option ?? '--store';
  if (text.startsWith('dir:')) {
    const dir = text.slice('dir:'.length);
    if (!dir) throw new StoreSpecError(option, '"dir:" needs a path (dir:/var/lib/overlay-ipsec/store)');
    return { kind: 'fs', dir };
  }
  const m = /^etcd:\/\/(.*)$/.exec(text);
  if (!m) throw new StoreSpecError(option, `"${text}" is not etcd://HOST:PORT[,HOST:PORT…] or dir:PATH`);
  const endpoints = m[1]!.split(',').map((s) => s.trim());
  if (endpoints.length === 0 || endpoints.some((e) => e === '')) throw new StoreSpecError(option, `"${text}" names no etcd endpoint (etcd://10.0.0.1:2379,10.0.0.2:2379)`);
  for (const e of endpoints) {
    if (/^https?:\/\//.test(e)) throw new StoreSpecError(option, `endpoint "${e}": give HOST:PORT only; TLS follows from the TLS options`);
    const bad = checkEndpoint(e);
    if (bad) throw new StoreSpecError(option, bad);
  }
  if (o.cluster !== undefined) {
    const bad = checkClusterName(o.cluster);
    if (bad) throw new StoreSpecError(option, bad);
  }
  return { kind: 'etcd', endpoints, prefix: clusterPrefix(o.cluster) };
}

async function pem(inline: string | undefined, file: string | undefined, what: string): Promise<Buffer | undefined> {
  if (inline !== undefined) return Buffer.from(inline);
  if (file === undefined) return undefined;
  try {
    return await readFile(file);
  } catch (err) {
    throw new StoreSpecError(`etcd TLS ${what} ${file}`, `cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

async function loadTls(t: StoreTls): Promise<EtcdTls> {
  const ca = await pem(t.caPem, t.ca, 'CA');
  const cert = await pem(t.certPem, t.cert, 'certificate');
  const key = await pem(t.keyPem, t.key, 'key');
  if (!ca) throw new StoreSpecError('etcd TLS', 'a CA certificate is needed to check the etcd members');
  if (!cert !== !key) throw new StoreSpecError('etcd TLS', 'a client certificate and its key go together: give both or neither');
  return { ca, ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}

/** Opens the store a spec names (the directory store is created if missing). */
export async function openStore(spec: StoreSpec): Promise<Store> {
  if (spec.kind === 'fs') return FsStore.open(spec.dir);
  return openEtcdStore(spec);
}

export async function openEtcdStore(spec: Extract<StoreSpec, { kind: 'etcd' }>): Promise<EtcdStore> {
  const tls = spec.tls ? await loadTls(spec.tls) : undefined;
  // Loaded on demand: the etcd client (gRPC) is heavy, and most commands run on the directory store.
  const { EtcdStore } = await import('./etcd-store.js');
  return new EtcdStore({
    endpoints: spec.endpoints,
    prefix: spec.prefix,
    ...(tls ? { tls } : {}),
    ...(spec.dialTimeoutMs !== undefined ? { dialTimeoutMs: spec.dialTimeoutMs } : {}),
    ...(spec.callTimeoutMs !== undefined ? { callTimeoutMs: spec.callTimeoutMs } : {}),
  });
}
