import { chmod, mkdir, readFile, rename, unlink } from 'node:fs/promises';
import { createHash, randomUUID, webcrypto, X509Certificate } from 'node:crypto';
import path from 'node:path';
import { CA_BUNDLE_KEY, type CaBundleDoc, type CertificateDoc, type NodeDoc } from '../store/documents.js';
import { CorruptDocumentError, StoreUnavailableError, update, type Store } from '../store/store.js';
import { replaceFile } from '../store/atomic-file.js';
import { generateKeyPair, privateKeyToPem, type KeyAlgorithm } from './keys.js';
import { createNodeCsr } from './node-csr.js';
import { fingerprintOf, verifiesAgainst } from './cert-chain.js';
import { loadOrCreateIdentity, type NodeIdentity } from './node-identity.js';
import { addMonths, DAY_MS, type Clock } from './time.js';
import { NODE_RENEW_MONTHS_LEFT } from './lifetimes.js';

/**
 * The node side of enrollment, shared by `overlay-ipsec pki enroll` and the node agent.
 * File names follow the seed's /etc/openvswitch/keys.
 */
export const KEY_FILE = 'ipsec-privkey.pem';
export const CERT_FILE = 'ipsec-cert.pem';
export const CA_FILE = 'ipsec-cacert.pem';
export const REQ_FILE = 'ipsec-req.pem';

export class EnrollmentRefused extends Error {
  override name = 'EnrollmentRefused';
  constructor(
    readonly node: string,
    readonly reason: string,
  ) {
    super(`enrollment of node ${node} refused by the operator: ${reason}`);
  }
}

export class EnrollmentTimeout extends Error {
  override name = 'EnrollmentTimeout';
}

export interface EnrollOptions {
  store: Store;
  stateDir: string;
  node: string;
  /** Used only when the node has no system-id yet (like setting OVS external_ids:system-id). */
  systemId?: string;
  /** A CSR made elsewhere (e.g. by openssl); without it a key is made here and never leaves `outDir`. */
  csrPem?: string;
  /** Where the key, certificate and CA bundle go; default the node's directory. */
  outDir?: string;
  keyAlgorithm?: KeyAlgorithm;
  underlayIp?: string;
  /** How long to wait for the operator (ms); default 60 s. */
  timeoutMs?: number;
  now?: Clock;
  signal?: AbortSignal;
}

export interface EnrollResult {
  identity: NodeIdentity;
  certificate: CertificateDoc;
  certPath: string;
  caPath: string;
  /** Present when the key was made here. */
  keyPath?: string;
}

/** Registers the node in the store (or refreshes its record), keeping what it reported before. */
export async function registerNode(store: Store, id: NodeIdentity, now: Clock, underlayIp?: string): Promise<NodeDoc> {
  const r = await update(store, 'nodes', id.name, (cur) => {
    if (cur && cur.system_id === id.systemId && (underlayIp === undefined || cur.underlay_ip === underlayIp)) return undefined;
    const base: NodeDoc = cur && cur.system_id === id.systemId ? cur : { name: id.name, system_id: id.systemId, registered_at: new Date(now()).toISOString(), trusted_ca: [] };
    return { ...base, ...(underlayIp !== undefined ? { underlay_ip: underlayIp } : {}) };
  });
  return r?.value ?? (await store.get('nodes', id.name))!.value;
}

/** Puts a new request in csrs/<node> (status pending) and returns its request id. */
export async function submitCsr(store: Store, node: string, csrPem: string, now: Clock): Promise<string> {
  const requestId = randomUUID();
  await store.put('csrs', node, { node, request_id: requestId, pem: csrPem, submitted_at: new Date(now()).toISOString(), status: 'pending' });
  return requestId;
}

/** Waits until the operator decides on request `requestId`; resolves with the certificate or throws EnrollmentRefused. */
export function waitForCertificate(store: Store, node: string, requestId: string, timeoutMs: number, signal?: AbortSignal): Promise<CertificateDoc> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err: Error | undefined, cert?: CertificateDoc): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stop();
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(cert!);
    };
    const onAbort = (): void => finish(new Error('enrollment aborted'));
    const timer = setTimeout(
      () => finish(new EnrollmentTimeout(`no decision from the operator on node ${node}'s CSR within ${Math.round(timeoutMs / 1000)} s (is \`overlay-ipsec operator\` running on this state directory?)`)),
      timeoutMs,
    );
    signal?.addEventListener('abort', onAbort);
    let checking = false;
    const stop = store.watch(
      'csrs',
      (ev) => {
        if (ev.key !== node || ev.type !== 'put' || !ev.value) return;
        const csr = ev.value;
        if (csr.request_id !== requestId) {
          if (csr.status === 'pending') finish(new Error(`node ${node}'s request ${requestId} was replaced by another request (${csr.request_id}); is another enroll running?`));
          return;
        }
        if (csr.status === 'denied') return finish(new EnrollmentRefused(node, csr.reason ?? 'no reason given'));
        if (csr.status === 'approved' && !checking) {
          checking = true;
          void store.get('certificates', node).then(
            (c) => {
              checking = false;
              if (c && c.value.request_id === requestId) finish(undefined, c.value);
              else finish(new Error(`node ${node}'s CSR was approved but certificates/${node} does not hold its certificate`));
            },
            (err: Error) => finish(err),
          );
        }
      },
      {
        // Our own request unreadable ends the wait; another node's damaged document, or the
        // store out of reach for a while, does not (the timeout still bounds the wait).
        onError: (err) => {
          if (err instanceof StoreUnavailableError) return;
          if (err instanceof CorruptDocumentError && err.key !== node) return;
          finish(err);
        },
      },
    );
  });
}

/** The CA bundle as one PEM file, in bundle order. */
export function bundlePem(bundle: CaBundleDoc): string {
  return bundle.cas.map((c) => c.pem).join('');
}

/**
 * Installs the CA bundle as the node's trust anchors (`ipsec-cacert.pem` in `outDir`) and tells
 * the operator which CAs the node now trusts. The agent calls this whenever ca/bundle changes;
 * the operator waits for it before a new CA starts signing.
 */
export async function installTrustBundle(store: Store, node: string, outDir: string, bundle: CaBundleDoc, now: Clock): Promise<string> {
  await mkdir(outDir, { recursive: true, mode: 0o700 });
  const caPath = path.join(outDir, CA_FILE);
  await replaceFile(caPath, bundlePem(bundle), 0o644);
  const fps = bundle.cas.map((c) => c.fingerprint);
  await update(store, 'nodes', node, (cur) => {
    if (!cur) return undefined;
    if (JSON.stringify(cur.trusted_ca) === JSON.stringify(fps)) return undefined;
    return { ...cur, trusted_ca: fps, trusted_at: new Date(now()).toISOString() };
  });
  return caPath;
}

/** Tells the operator which certificate the node presents now. */
export async function reportInstalledCertificate(store: Store, node: string, cert: CertificateDoc): Promise<void> {
  await update(store, 'nodes', node, (cur) => {
    if (!cur) return undefined;
    if (cur.cert_serial === cert.serial && cur.cert_issuer_fingerprint === cert.issuer_fingerprint) return undefined;
    return { ...cur, cert_serial: cert.serial, cert_issuer_fingerprint: cert.issuer_fingerprint };
  });
}

/**
 * Enrolls a node: identity (made once), registration, a CSR (own key, or the given CSR),
 * the operator's decision, then the certificate, the CA bundle and the key in `outDir`.
 * Throws EnrollmentRefused with the operator's reason, EnrollmentTimeout without a decision.
 */
export async function enroll(opts: EnrollOptions): Promise<EnrollResult> {
  const now = opts.now ?? Date.now;
  const identity = await loadOrCreateIdentity(opts.stateDir, opts.node, opts.systemId);
  const outDir = opts.outDir ?? identity.dir;
  await mkdir(outDir, { recursive: true, mode: 0o700 });
  await registerNode(opts.store, identity, now, opts.underlayIp);

  let csrPem = opts.csrPem;
  let newKeyPath: string | undefined;
  let publicKeyDer: Buffer | undefined;
  const keyPath = path.join(outDir, KEY_FILE);
  if (csrPem === undefined) {
    // A fresh key per request; it replaces the old one only once its certificate is here.
    const keys = await generateKeyPair(opts.keyAlgorithm ?? 'rsa');
    newKeyPath = `${keyPath}.new`;
    await replaceFile(newKeyPath, await privateKeyToPem(keys.privateKey), 0o600);
    await chmod(newKeyPath, 0o600);
    csrPem = await createNodeCsr(keys, identity.systemId);
    publicKeyDer = Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey));
  }
  await replaceFile(path.join(outDir, REQ_FILE), csrPem, 0o644);
  const requestId = await submitCsr(opts.store, identity.name, csrPem, now);
  let cert: CertificateDoc;
  try {
    cert = await waitForCertificate(opts.store, identity.name, requestId, opts.timeoutMs ?? 60_000, opts.signal);
  } catch (err) {
    if (newKeyPath) await unlink(newKeyPath).catch(() => {});
    throw err;
  }
  if (publicKeyDer) {
    const got = new X509Certificate(cert.pem).publicKey.export({ format: 'der', type: 'spki' });
    if (!got.equals(publicKeyDer)) throw new Error(`certificates/${identity.name} does not carry this node's public key`);
  }
  const bundle = await opts.store.get('ca', CA_BUNDLE_KEY);
  if (!bundle) throw new Error('the operator signed but ca/bundle is missing');
  const caPath = await installTrustBundle(opts.store, identity.name, outDir, bundle.value, now);
  const certPath = path.join(outDir, CERT_FILE);
  await replaceFile(certPath, cert.pem, 0o644);
  if (newKeyPath) await rename(newKeyPath, keyPath);
  await reportInstalledCertificate(opts.store, identity.name, cert);
  return { identity, certificate: cert, certPath, caPath, ...(newKeyPath ? { keyPath } : {}) };
}

/** Stable per-node jitter in [0, maxMs): nodes enrolled together do not all renew at once. */
export function renewalJitterMs(systemId: string, maxMs = 7 * DAY_MS): number {
  const h = createHash('sha256').update(systemId).digest();
  return (h.readUInt32BE(0) / 2 ** 32) * maxMs;
}

/** When a certificate is due for renewal: 6 months before it ends, less the node's jitter. */
export function renewalTime(certPem: string, systemId: string, jitterMaxMs = 7 * DAY_MS): Date {
  const notAfter = new Date(new X509Certificate(certPem).validTo);
  return new Date(addMonths(notAfter, -NODE_RENEW_MONTHS_LEFT).getTime() - renewalJitterMs(systemId, jitterMaxMs));
}

export type RenewReason = 'expiring' | 'new-ca' | 'untrusted';

/**
 * Whether the node should request a new certificate now, and why: its certificate ends within
 * 6 months (after 4.5 of 5 years, with jitter); or the CA bundle is in its reissuing phase and
 * the certificate is not from the signing CA; or the bundle no longer trusts it.
 */
export function renewalDue(certPem: string, systemId: string, bundle: CaBundleDoc, nowMs: number, jitterMaxMs = 7 * DAY_MS): RenewReason | undefined {
  if (!verifiesAgainst(certPem, bundle.cas.map((c) => c.pem), nowMs)) return 'untrusted';
  const active = bundle.cas.find((c) => c.state === 'active');
  if (bundle.phase === 'reissuing' && active) {
    const issued = bundle.cas.find((c) => verifiesAgainst(certPem, [c.pem], nowMs));
    if (issued && issued.fingerprint !== active.fingerprint) return 'new-ca';
  }
  if (nowMs >= renewalTime(certPem, systemId, jitterMaxMs).getTime()) return 'expiring';
  return undefined;
}

/** The node's installed certificate and CA bundle, if any (for the agent at start). */
export async function readInstalled(outDir: string): Promise<{ certPem?: string; caPem?: string }> {
  const rd = (f: string) => readFile(path.join(outDir, f), 'utf8').catch(() => undefined);
  const [certPem, caPem] = await Promise.all([rd(CERT_FILE), rd(CA_FILE)]);
  return { ...(certPem ? { certPem } : {}), ...(caPem ? { caPem } : {}) };
}

export { fingerprintOf };

/**
 * Takes a node out of the cluster: its registration and its request go; the operator then
 * frees its subnet and drops its certificate record. (The node's own files stay with the node.)
 */
export async function deregisterNode(store: Store, node: string): Promise<void> {
  await store.delete('nodes', node);
  await store.delete('csrs', node);
}
