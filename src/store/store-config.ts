import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import { z } from 'zod';
import { checkClusterName, checkPrefix, clusterPrefix } from './etcd-keys.js';
import { JoinFileError, parseCredentialsFile } from './join-file.js';
import { checkEndpoint, StoreSpecError, type StoreSpec, type StoreTls } from './open-store.js';

/**
 * A store config file (YAML or JSON) names the etcd cluster a daemon uses, so that endpoints
 * and credentials need not be on every command line:
 *
 *   endpoints: [10.0.0.11:2379, 10.0.0.12:2379, 10.0.0.13:2379]
 *   cluster: prod                 # keys under /overlay-ipsec/prod (default: default); or
 *   # prefix: /overlay-ipsec/prod
 *   tls:                          # file paths, relative to this file; or the PEM inline
 *     ca: etcd-ca.pem             #   (caPem / certPem / keyPem), as a join file carries it
 *     cert: client.pem
 *     key: client-key.pem
 *   dialTimeoutMs: 3000
 *   callTimeoutMs: 5000
 *
 * A join file is such a file plus a `join` section of its own (who it is for, until when);
 * this reader hands a file with that section to the join code (join-file.ts), which checks it
 * whole and refuses it once expired, so an expired join file is refused wherever a store config is read.
 */

const ms = z.number().int().min(100).max(600_000);
const configSchema = z.strictObject({
  endpoints: z.array(z.string()).min(1, { error: 'name at least one etcd endpoint (HOST:PORT)' }),
  cluster: z.string().optional(),
  prefix: z.string().optional(),
  tls: z.strictObject({
    ca: z.string().optional(),
    cert: z.string().optional(),
    key: z.string().optional(),
    caPem: z.string().optional(),
    certPem: z.string().optional(),
    keyPem: z.string().optional(),
  }).optional(),
  dialTimeoutMs: ms.optional(),
  callTimeoutMs: ms.optional(),
  join: z.record(z.string(), z.unknown()).optional(),
});

/**
 * The YAML parser, loaded on first use: only a node given --store-config needs it, and loaded
 * with every agent it was ~3 MB of each one's RSS. (require: the parse below is synchronous.)
 */
function parseYaml(text: string): unknown {
  const yaml = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return yaml.parse(text);
}

/** Parses a store config file's text; errors name the file and the key, and say what would do. */
export function parseStoreConfig(text: string, file: string): StoreSpec {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new StoreSpecError(file, `not YAML or JSON (${(err as Error).message.split('\n')[0]})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new StoreSpecError(file, 'expected a mapping with at least "endpoints: [HOST:PORT, …]"');
  const r = configSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    const key = i.path.join('.');
    const what = i.code === 'unrecognized_keys' ? `unknown key ${i.keys.map((k) => `"${k}"`).join(', ')} (known: endpoints, cluster, prefix, tls, dialTimeoutMs, callTimeoutMs, join)` : i.message;
    throw new StoreSpecError(key ? `${file}: ${key}` : file, what);
  }
  const c = r.data;
  if (c.join !== undefined) {
    try {
      parseCredentialsFile(text, file);
    } catch (err) {
      if (err instanceof JoinFileError) throw new StoreSpecError(file, err.problem);
      throw err;
    }
  }
  c.endpoints.forEach((e, i) => {
    const bad = checkEndpoint(e);
    if (bad) throw new StoreSpecError(`${file}: endpoints.${i}`, bad);
  });
  if (c.cluster !== undefined && c.prefix !== undefined) throw new StoreSpecError(`${file}: prefix`, 'give cluster or prefix, not both');
  if (c.cluster !== undefined) {
    const bad = checkClusterName(c.cluster);
    if (bad) throw new StoreSpecError(`${file}: cluster`, bad);
  }
  const prefix = c.prefix ?? clusterPrefix(c.cluster);
  const badPrefix = checkPrefix(prefix);
  if (badPrefix) throw new StoreSpecError(`${file}: prefix`, badPrefix);
  const spec: StoreSpec = { kind: 'etcd', endpoints: c.endpoints, prefix };
  if (c.tls) {
    const base = path.dirname(path.resolve(file));
    const tls: StoreTls = {};
    for (const k of ['ca', 'cert', 'key'] as const) if (c.tls[k] !== undefined) tls[k] = path.resolve(base, c.tls[k]!);
    for (const k of ['caPem', 'certPem', 'keyPem'] as const) if (c.tls[k] !== undefined) tls[k] = c.tls[k];
    if (tls.ca === undefined && tls.caPem === undefined) throw new StoreSpecError(`${file}: tls.ca`, 'a TLS section needs the CA that signed the etcd members (ca: FILE or caPem: PEM)');
    spec.tls = tls;
  }
  if (c.dialTimeoutMs !== undefined) spec.dialTimeoutMs = c.dialTimeoutMs;
  if (c.callTimeoutMs !== undefined) spec.callTimeoutMs = c.callTimeoutMs;
  return spec;
}

export async function loadStoreConfig(file: string): Promise<StoreSpec> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new StoreSpecError(file, `cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseStoreConfig(text, file);
}
