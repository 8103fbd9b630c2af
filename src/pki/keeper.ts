import path from 'node:path';
import type { Logger } from '../util/log.js';
import { silentLogger } from '../util/log.js';
import { CA_BUNDLE_KEY, type CertificateDoc } from '../store/documents.js';
import type { Store } from '../store/store.js';
import { enroll, installTrustBundle, readInstalled, renewalDue, CERT_FILE, CA_FILE, KEY_FILE, EnrollmentRefused, type RenewReason } from './enroll.js';
import { fingerprintOf, splitPem } from './cert-chain.js';
import { loadOrCreateIdentity } from './node-identity.js';
import type { KeyAlgorithm } from './keys.js';
import { DAY_MS, type Clock } from './time.js';

export interface CredentialsChanged {
  /** enrolled: first certificate; renewed: a new certificate (reason says why); trust: new CA bundle. */
  kind: 'enrolled' | 'renewed' | 'trust';
  reason?: RenewReason;
  certPath: string;
  keyPath: string;
  caPath: string;
  certificate?: CertificateDoc;
  /** Fingerprints of the CAs now installed. */
  trusted: string[];
}

export interface KeeperOptions {
  store: Store;
  stateDir: string;
  node: string;
  /** Default: the node's directory. */
  outDir?: string;
  keyAlgorithm?: KeyAlgorithm;
  underlayIp?: string;
  systemId?: string;
  now?: Clock;
  /** How often the certificate's age is checked (ms; default 1 hour). CA changes are watched, not polled. */
  checkMs?: number;
  jitterMaxMs?: number;
  /** How long one enrollment waits for the operator (ms). */
  timeoutMs?: number;
  log?: Logger;
  /** Called after files changed on disk: reload the IKE credentials. */
  onChange?: (ev: CredentialsChanged) => void;
}

/**
 * Keeps a node's IPsec credentials current, for the node agent: enrolls if the node has no
 * usable certificate, installs every new CA bundle (and reports it, which lets a CA rollover
 * proceed), and renews the certificate when `renewalDue` says so (6 months before its end, with
 * jitter, or when a rollover asks for certificates from the new CA). Steps never overlap.
 */
export class CredentialKeeper {
  private readonly now: Clock;
  private readonly log: Logger;
  private readonly outDir: string;
  private stopWatch: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(private readonly opts: KeeperOptions) {
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? silentLogger();
    this.outDir = opts.outDir ?? path.join(opts.stateDir, 'nodes', opts.node);
  }

  get paths(): { certPath: string; keyPath: string; caPath: string } {
    return { certPath: path.join(this.outDir, CERT_FILE), keyPath: path.join(this.outDir, KEY_FILE), caPath: path.join(this.outDir, CA_FILE) };
  }

  /** First step (enrolls if needed), then watches ca/bundle and checks the certificate's age every checkMs. */
  async start(): Promise<void> {
    await this.check();
    if (this.stopped) return;
    this.stopWatch = this.opts.store.watch('ca', () => void this.check().catch((err: Error) => this.log.error({ err: err.message }, 'credential check failed')), {
      onError: (err) => this.log.error({ err: err.message }, 'store error'),
    });
    this.timer = setInterval(() => void this.check().catch((err: Error) => this.log.error({ err: err.message }, 'credential check failed')), this.opts.checkMs ?? 3_600_000);
    this.timer.unref();
  }

  /** One step, serialized with the others; returns what it changed, in order. */
  check(): Promise<CredentialsChanged[]> {
    const next = this.chain.then(() => (this.stopped ? [] : this.step()));
    this.chain = next.catch(() => {});
    return next;
  }

  private async step(): Promise<CredentialsChanged[]> {
    const { store } = this.opts;
    const events: CredentialsChanged[] = [];
    const identity = await loadOrCreateIdentity(this.opts.stateDir, this.opts.node, this.opts.systemId);
    let installed = await readInstalled(this.outDir);
    const bundle = (await store.get('ca', CA_BUNDLE_KEY))?.value;
    // Trust first: a node takes a certificate from a CA only once it trusts that CA itself.
    if (installed.certPem && bundle && !sameTrust(installed.caPem, bundle.cas.map((c) => c.fingerprint))) {
      events.push(await this.installTrust());
      installed = await readInstalled(this.outDir);
    }
    let reason: RenewReason | undefined;
    if (installed.certPem && bundle) reason = renewalDue(installed.certPem, identity.systemId, bundle, this.now(), this.opts.jitterMaxMs ?? 7 * DAY_MS);
    if (installed.certPem && !reason) return events;
    try {
      const r = await enroll({
        store,
        stateDir: this.opts.stateDir,
        node: this.opts.node,
        outDir: this.outDir,
        now: this.now,
        timeoutMs: this.opts.timeoutMs ?? 120_000,
        ...(this.opts.keyAlgorithm ? { keyAlgorithm: this.opts.keyAlgorithm } : {}),
        ...(this.opts.underlayIp ? { underlayIp: this.opts.underlayIp } : {}),
        ...(this.opts.systemId ? { systemId: this.opts.systemId } : {}),
      });
      const trusted = (await store.get('ca', CA_BUNDLE_KEY))!.value.cas.map((c) => c.fingerprint);
      const ev: CredentialsChanged = { kind: installed.certPem ? 'renewed' : 'enrolled', ...(reason ? { reason } : {}), ...this.paths, certificate: r.certificate, trusted };
      this.log.info({ node: this.opts.node, kind: ev.kind, reason, serial: r.certificate.serial, not_after: r.certificate.not_after }, 'node certificate installed');
      this.opts.onChange?.(ev);
      events.push(ev);
      return events;
    } catch (err) {
      if (err instanceof EnrollmentRefused) this.log.error({ node: this.opts.node, reason: err.reason }, 'enrollment refused');
      throw err;
    }
  }

  private async installTrust(): Promise<CredentialsChanged> {
    const bundle = (await this.opts.store.get('ca', CA_BUNDLE_KEY))!.value;
    await installTrustBundle(this.opts.store, this.opts.node, this.outDir, bundle, this.now);
    const ev: CredentialsChanged = { kind: 'trust', ...this.paths, trusted: bundle.cas.map((c) => c.fingerprint) };
    this.log.info({ node: this.opts.node, cas: bundle.cas.map((c) => c.subject), phase: bundle.phase }, 'CA bundle installed');
    this.opts.onChange?.(ev);
    return ev;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopWatch?.();
    if (this.timer) clearInterval(this.timer);
    await this.chain;
  }
}

function sameTrust(caPem: string | undefined, fps: string[]): boolean {
  if (!caPem) return false;
  return JSON.stringify(splitPem(caPem).map(fingerprintOf)) === JSON.stringify(fps);
}
