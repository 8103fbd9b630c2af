import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../util/log.js';
import { CA_BUNDLE_KEY, type CaBundleDoc, type CaEntry, type NodeDoc } from '../store/documents.js';
import { ConflictError, type Store } from '../store/store.js';
import { createExclusive } from '../store/atomic-file.js';
import { operatorDir } from '../store/layout.js';
import { createCa, type CertificateAuthority } from '../pki/ca.js';
import { CA_RENEW_AFTER_YEARS } from '../pki/lifetimes.js';
import { certInfo } from '../pki/cert-info.js';
import { keyPairFromPem, type KeyAlgorithm } from '../pki/keys.js';
import { x509 } from '../pki/provider.js';
import { addYears } from '../pki/time.js';

/**
 * The operator's CAs: private keys in `<state>/operator/ca/<serial>.key` (0600, never in the
 * store), certificates in the store's ca/bundle, and the rollover that replaces a CA at 9 years
 * without a moment where two nodes distrust each other:
 *
 *   steady        [A active]
 *   distributing  [A active, B next]       B is trusted but does not sign, until every node
 *                                          reports (nodes/<n>.trusted_ca) that it trusts B
 *   reissuing     [A retiring, B active]   B signs; nodes renew; A stays trusted until every
 *                                          node presents (nodes/<n>.cert_issuer_fingerprint) a
 *                                          certificate from B
 *   steady        [B active]
 */
export class CaKeeper {
  private readonly keys = new Map<string, CertificateAuthority>();
  constructor(
    private readonly store: Store,
    private readonly stateDir: string,
    private readonly algorithm: KeyAlgorithm,
    private readonly log: Logger,
  ) {}

  private keyDir(): string {
    return path.join(operatorDir(this.stateDir), 'ca');
  }

  /** Makes a CA and stores its key first (so a stored certificate always has its key). */
  private async makeCa(nowMs: number, state: CaEntry['state']): Promise<CaEntry> {
    const ca = await createCa(nowMs, this.algorithm);
    const info = certInfo(ca.certPem);
    await mkdir(this.keyDir(), { recursive: true, mode: 0o700 });
    await createExclusive(path.join(this.keyDir(), `${info.serial}.key`), ca.keyPem, 0o600);
    await createExclusive(path.join(this.keyDir(), `${info.serial}.crt`), ca.certPem, 0o644);
    this.keys.set(info.fingerprint, ca);
    this.log.info({ subject: info.subject, serial: info.serial, not_after: info.not_after, state }, 'created CA');
    return { pem: ca.certPem, serial: info.serial, subject: info.subject, fingerprint: info.fingerprint, not_before: info.not_before, not_after: info.not_after, state };
  }

  /** The bundle, created on first start. */
  async ensure(nowMs: number): Promise<{ bundle: CaBundleDoc; revision: number }> {
    for (;;) {
      const cur = await this.store.get('ca', CA_BUNDLE_KEY);
      if (cur) return { bundle: cur.value, revision: cur.revision };
      const entry = await this.makeCa(nowMs, 'active');
      const bundle: CaBundleDoc = { cas: [entry], phase: 'steady', updated_at: new Date(nowMs).toISOString() };
      try {
        const revision = await this.store.put('ca', CA_BUNDLE_KEY, bundle, { expectedRevision: 0 });
        return { bundle, revision };
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
    }
  }

  /** The CA (certificate and key) that signs now. */
  async signer(bundle: CaBundleDoc): Promise<CertificateAuthority & { entry: CaEntry }> {
    const entry = bundle.cas.find((c) => c.state === 'active');
    if (!entry) throw new Error('ca/bundle has no active CA');
    let ca = this.keys.get(entry.fingerprint);
    if (!ca) {
      const file = path.join(this.keyDir(), `${entry.serial}.key`);
      let pem: string;
      try {
        pem = await readFile(file, 'utf8');
      } catch (err) {
        throw new Error(`the key of the active CA ${entry.subject} is missing (${file}: ${(err as NodeJS.ErrnoException).code})`);
      }
      ca = { cert: new x509.X509Certificate(entry.pem), certPem: entry.pem, keys: await keyPairFromPem(pem) };
      this.keys.set(entry.fingerprint, ca);
    }
    return { ...ca, entry };
  }

  /** A node that never reports back holds the rollover; that becomes a warning as the old CA nears its end. */
  private waitingLog(nowMs: number, old: CaEntry, waiting: NodeDoc[], msg: string): void {
    const daysLeft = Math.floor((Date.parse(old.not_after) - nowMs) / 86_400_000);
    const fields = { waiting: waiting.map((n) => n.name), old_ca_days_left: daysLeft };
    if (daysLeft < 90) this.log.warn(fields, `${msg}; the old CA expires soon, and these nodes will then not be trusted`);
    else this.log.debug(fields, msg);
  }

  /**
   * One step of the rollover, given the nodes' reports. Writes the new bundle (CAS) when the
   * phase changes and returns it; undefined when nothing changes.
   */
  async rolloverStep(nowMs: number, bundle: CaBundleDoc, revision: number, nodes: NodeDoc[]): Promise<CaBundleDoc | undefined> {
    const active = bundle.cas.find((c) => c.state === 'active')!;
    let next: CaBundleDoc | undefined;
    const at = new Date(nowMs).toISOString();
    // Nodes that take part: those that have ever presented a certificate.
    const participants = nodes.filter((n) => n.cert_serial !== undefined);
    if (bundle.phase === 'steady') {
      if (nowMs >= addYears(new Date(active.not_before), CA_RENEW_AFTER_YEARS).getTime()) {
        const fresh = await this.makeCa(nowMs, 'next');
        next = { cas: [active, fresh], phase: 'distributing', updated_at: at };
        this.log.info({ old: active.subject, new: fresh.subject }, 'CA rollover: new CA distributed to nodes as trusted, not signing yet');
      }
    } else if (bundle.phase === 'distributing') {
      const incoming = bundle.cas.find((c) => c.state === 'next')!;
      const waiting = participants.filter((n) => !n.trusted_ca.includes(incoming.fingerprint));
      if (waiting.length === 0) {
        next = { cas: [{ ...active, state: 'retiring' }, { ...incoming, state: 'active' }], phase: 'reissuing', updated_at: at };
        this.log.info({ signer: incoming.subject }, 'CA rollover: every node trusts the new CA; it signs from now on');
      } else this.waitingLog(nowMs, active, waiting, 'CA rollover: waiting for nodes to trust the new CA');
    } else {
      const waiting = participants.filter((n) => n.cert_issuer_fingerprint !== active.fingerprint);
      if (waiting.length === 0) {
        next = { cas: [active], phase: 'steady', updated_at: at };
        this.log.info({ dropped: bundle.cas.filter((c) => c.state === 'retiring').map((c) => c.subject) }, 'CA rollover done: every node holds a certificate from the new CA; old CA dropped');
      } else this.waitingLog(nowMs, bundle.cas.find((c) => c.state === 'retiring') ?? active, waiting, 'CA rollover: waiting for nodes to present certificates from the new CA');
    }
    if (!next) return undefined;
    try {
      await this.store.put('ca', CA_BUNDLE_KEY, next, { expectedRevision: revision });
    } catch (err) {
      if (err instanceof ConflictError) return undefined; // someone else moved it; next pass re-reads
      throw err;
    }
    return next;
  }
}
