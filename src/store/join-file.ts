import { X509Certificate } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * A join file: everything one etcd client needs and nothing more — the endpoints, the cluster's
 * key prefix, the etcd CA, its own client certificate and key (the CN is its etcd user), and an
 * expiry (the certificate's end: etcd refuses it after that too). A node gets one from the
 * administrator (`overlay-ipsec node join-file`); the operator's credentials file has the same
 * form without a node. JSON, kept 0600. It is accepted wherever a store config file is.
 * It never holds the IPsec side's keys: a node makes those itself and they never leave it.
 */

export const CREDENTIALS_KIND = 'overlay-ipsec-etcd-credentials';
export const CREDENTIALS_VERSION = 1;

/**
 * The file: a store config file (store-config.ts reads `endpoints`, `prefix`, `tls`) whose TLS
 * PEMs are inline, plus a `join` section saying whose credentials these are and until when.
 */
export interface CredentialsFile {
  endpoints: string[];
  prefix: string;
  tls: { caPem: string; certPem: string; keyPem: string };
  join: {
    kind: typeof CREDENTIALS_KIND;
    version: typeof CREDENTIALS_VERSION;
    /** The etcd user (the certificate's CN). */
    user: string;
    /** The node this file lets join; absent for the operator's file. */
    node?: string;
    cluster: string;
    expires_at: string;
    created_at: string;
  };
}

/** What a store opens from a credentials file (the etcd StoreSpec with its PEMs inline). */
export interface CredentialsSpec {
  kind: 'etcd';
  endpoints: string[];
  prefix: string;
  tls: { caPem: string; certPem: string; keyPem: string };
}

export interface ParsedCredentials {
  spec: CredentialsSpec;
  user: string;
  node?: string;
  cluster: string;
  expiresAt: Date;
}

/** A join or credentials file that cannot be used; the message is one line naming the file. */
export class JoinFileError extends Error {
  constructor(readonly file: string, readonly problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'JoinFileError';
  }
}

/** True for a parsed document that says it is a credentials file (its `join` section names the kind). */
export function isCredentialsFile(doc: unknown): boolean {
  const join = typeof doc === 'object' && doc !== null ? (doc as { join?: unknown }).join : undefined;
  return typeof join === 'object' && join !== null && (join as { kind?: unknown }).kind === CREDENTIALS_KIND;
}

function field(doc: Record<string, unknown>, file: string, key: string, ok: (v: unknown) => boolean, want: string, shown = key): unknown {
  const v = doc[key];
  if (!ok(v)) throw new JoinFileError(file, `key "${shown}": ${v === undefined ? 'missing, expected' : 'not'} ${want}`);
  return v;
}

const isText = (v: unknown): boolean => typeof v === 'string' && v.length > 0;
const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);
const isPem = (label: RegExp) => (v: unknown): boolean => typeof v === 'string' && label.test(v);

/**
 * Checks a credentials file's text (JSON) and its expiry at `now`. Throws JoinFileError with the
 * key that is wrong, or "expired at T" and how to get a new one.
 */
export function parseCredentialsFile(text: string, file: string, now: number = Date.now()): ParsedCredentials {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new JoinFileError(file, `not JSON (${(err as Error).message})`);
  }
  if (!isCredentialsFile(doc)) throw new JoinFileError(file, `not a join file (key "join.kind" must be "${CREDENTIALS_KIND}")`);
  const d = doc as Record<string, unknown>;
  const j = d.join as Record<string, unknown>;
  if (j.version !== CREDENTIALS_VERSION) throw new JoinFileError(file, `key "join.version": ${JSON.stringify(j.version)} is not ${CREDENTIALS_VERSION} (made by another version of overlay-ipsec)`);
  const user = field(j, file, 'user', isText, 'a user name', 'join.user') as string;
  const node = j.node === undefined ? undefined : (field(j, file, 'node', isText, 'a node name', 'join.node') as string);
  const cluster = field(j, file, 'cluster', isText, 'a cluster name', 'join.cluster') as string;
  const expiresText = field(j, file, 'expires_at', (v) => typeof v === 'string' && !Number.isNaN(Date.parse(v)), 'an ISO 8601 time', 'join.expires_at') as string;
  const prefix = field(d, file, 'prefix', (v) => typeof v === 'string' && /^(\/[A-Za-z0-9._-]+)+$/.test(v), 'a key prefix like /overlay-ipsec/default') as string;
  const endpoints = field(d, file, 'endpoints', (v) => Array.isArray(v) && v.length > 0 && v.every((e) => typeof e === 'string' && /^[A-Za-z0-9.[\]:-]+:[0-9]{1,5}$/.test(e)), 'a list of HOST:PORT') as string[];
  const tls = field(d, file, 'tls', isObject, 'an object with caPem, certPem and keyPem') as Record<string, unknown>;
  const ca = field(tls, file, 'caPem', isPem(/-----BEGIN CERTIFICATE-----/), 'a PEM certificate', 'tls.caPem') as string;
  const cert = field(tls, file, 'certPem', isPem(/-----BEGIN CERTIFICATE-----/), 'a PEM certificate', 'tls.certPem') as string;
  const key = field(tls, file, 'keyPem', isPem(/-----BEGIN [A-Z ]*PRIVATE KEY-----/), 'a PEM private key', 'tls.keyPem') as string;

  let x: X509Certificate;
  try {
    x = new X509Certificate(cert);
  } catch (err) {
    throw new JoinFileError(file, `key "tls.certPem": cannot be read (${(err as Error).message})`);
  }
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(x.subject)?.[1];
  if (cn !== user) throw new JoinFileError(file, `key "join.user": "${user}" is not the certificate's CN ("${cn ?? ''}")`);
  const expiresAt = new Date(Math.min(Date.parse(expiresText), Date.parse(x.validTo)));
  if (expiresAt.getTime() <= now) {
    const again = node ? `overlay-ipsec node join-file --node ${node} --out FILE` : 'overlay-ipsec etcd bootstrap';
    throw new JoinFileError(file, `expired at ${expiresAt.toISOString()}${node ? ` (node ${node})` : ''}; ask the administrator for a new one (${again})`);
  }
  return {
    spec: { kind: 'etcd', endpoints, prefix, tls: { caPem: ca, certPem: cert, keyPem: key } },
    user,
    ...(node !== undefined ? { node } : {}),
    cluster,
    expiresAt,
  };
}

export class FileExistsError extends Error {
  constructor(readonly file: string) {
    super(`${file} exists; pass --force to replace it`);
    this.name = 'FileExistsError';
  }
}

/**
 * Writes a credentials file 0600 (whatever the umask). An existing file is refused unless
 * `force`; then the new one is written beside it and renamed over it, so a reader never sees half.
 */
export async function writeCredentialsFile(file: string, doc: CredentialsFile, o: { force?: boolean } = {}): Promise<void> {
  const text = JSON.stringify(doc, null, 2) + '\n';
  const target = o.force ? path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`) : file;
  let fh;
  try {
    fh = await open(target, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST' && !o.force) throw new FileExistsError(file);
    throw err;
  }
  try {
    await fh.chmod(0o600);
    await fh.writeFile(text);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(target, { force: true });
    throw err;
  }
  await fh.close();
  if (target !== file) await rename(target, file);
}
