import type { Logger } from '../util/log.js';
import { NETWORK_KEY, type NetworkDoc, type NodeDoc } from '../store/documents.js';
import { CorruptDocumentError, reportOnce, type ListOptions, type Store } from '../store/store.js';
import type { NetworkConfig } from '../config/network.js';
import { checkTransition } from '../config/validate.js';
import { toConfigError } from '../config/diagnostics.js';
import type { KeyAlgorithm } from '../pki/keys.js';
import type { Clock } from '../pki/time.js';
import { CaKeeper } from './ca-keeper.js';
import { decideCsr } from './csr-signer.js';
import { reconcileSubnets } from './subnet-allocator.js';
import { CoalescingRunner } from '../util/coalescing-runner.js';
import { forEachLimited } from '../util/limited.js';
import { applyNetworkRequest, mergeGiven } from './network-request.js';

/** Pending CSRs decided at once within a pass. */
const CSR_DECISIONS_IN_FLIGHT = 8;

export interface OperatorOptions {
  store: Store;
  stateDir: string;
  log: Logger;
  now?: Clock;
  keyAlgorithm?: KeyAlgorithm;
  /** A validated config to install or check against the stored one; without it the stored one is used. */
  network?: NetworkConfig;
  /** Time-driven work (renewal, rollover) is checked this often, even without store events (ms). */
  tickMs?: number;
  /**
   * Whether this operator may act now (it leads the election of the operators sharing an etcd
   * store). Asked before every pass and every decision, so a leader that lost its lease stops
   * between two CSRs. Default: always (one operator per state directory, by its pid file).
   */
  leading?: () => boolean;
}

/**
 * The control plane's reconcile loop: one pass reads nodes, CSRs and the CA bundle and makes
 * them right — CA present, every pending CSR decided, every node with a subnet, the CA rolled
 * over when due. Passes never overlap; store events and a timer trigger them. Every step is
 * idempotent, so a pass cut short by kill -9 is completed by the next process.
 */
export class Operator {
  private readonly store: Store;
  private readonly log: Logger;
  private readonly now: Clock;
  private readonly ca: CaKeeper;
  private network: NetworkDoc | undefined;
  private stops: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly runner = new CoalescingRunner(
    () => this.reconcileOnce(),
    (err) => this.log.error({ err: err.message }, 'reconcile pass failed; retrying on the next event or tick'),
  );
  private stopped = false;
  private readonly leading: () => boolean;
  /** Damaged documents (an administrator's garbage) are logged once each and left out. */
  private readonly skipBad: ListOptions = { onError: reportOnce((err) => this.log.error({ err: err.message }, 'store document skipped')) };
  passes = 0;

  constructor(private readonly opts: OperatorOptions) {
    this.store = opts.store;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.leading = opts.leading ?? (() => true);
    this.ca = new CaKeeper(opts.store, opts.stateDir, opts.keyAlgorithm ?? 'rsa', opts.log);
  }

  /**
   * Installs the network config (first start) or checks the given one against the installed
   * one (a cluster installed with IPsec refuses a config that turns it off): ConfigError.
   */
  async applyNetwork(): Promise<NetworkDoc> {
    const given = this.opts.network;
    let stored;
    try {
      stored = await this.store.get('network', NETWORK_KEY);
    } catch (err) {
      if (!(err instanceof CorruptDocumentError) || !given) throw err;
      // The operator owns this document and was given the config it came from: it writes it again.
      const doc: NetworkDoc = { ...given, installed_at: new Date(this.now()).toISOString() };
      await this.store.put('network', NETWORK_KEY, doc, { replaceCorrupt: true });
      this.log.error({ err: err.message }, 'cluster network config document was damaged; rewritten from --config (the damaged file is kept as .corrupt)');
      return doc;
    }
    if (stored && given) {
      const errs = checkTransition(stored.value, given);
      if (errs.length) throw toConfigError(errs[0]!);
      const next = mergeGiven(stored.value, given, this.log);
      if (JSON.stringify(next) !== JSON.stringify(stored.value)) await this.store.put('network', NETWORK_KEY, next, { expectedRevision: stored.revision });
      return next;
    }
    if (stored) return stored.value;
    if (!given) throw new Error('no network config stored yet: pass --config install-config.yaml manifests/cluster-network-03-config.yml');
    const doc: NetworkDoc = { ...given, installed_at: new Date(this.now()).toISOString() };
    await this.store.put('network', NETWORK_KEY, doc, { expectedRevision: 0 });
    this.log.info({ clusterNetwork: doc.clusterNetwork, ipsec: doc.ipsec.mode, mtu: doc.mtu }, 'installed cluster network config');
    return doc;
  }

  async start(): Promise<void> {
    this.network = await this.applyNetwork();
    const { bundle } = await this.ca.ensure(this.now());
    this.log.info({ cas: bundle.cas.map((c) => ({ subject: c.subject, state: c.state, not_after: c.not_after })), phase: bundle.phase }, 'CA ready');
    if (this.stopped) return;
    const onError = (err: Error): void => this.log.error({ err: err.message }, 'store error');
    for (const c of ['nodes', 'csrs', 'ca', 'network'] as const) this.stops.push(this.store.watch(c, () => this.kick(), { onError }));
    this.timer = setInterval(() => this.kick(), this.opts.tickMs ?? 5000);
    await this.reconcile();
  }

  /** Asks for a pass; passes are serialized and coalesced. */
  kick(): void {
    this.runner.kick();
  }

  /** Runs a pass now (or waits for the one in flight and runs another). */
  async reconcile(): Promise<void> {
    await this.runner.runNow();
  }

  /** One reconcile pass. Public for tests that drive the clock step by step. */
  async reconcileOnce(): Promise<void> {
    if (!this.leading()) return;
    this.passes++;
    const now = this.now();
    if (!this.network) this.network = await this.applyNetwork();
    this.network = (await applyNetworkRequest(this.store, this.log, now)) ?? this.network;
    const { bundle, revision } = await this.ca.ensure(now);
    const nodeEntries = await this.store.list('nodes', this.skipBad);
    const nodes = new Map<string, NodeDoc>(nodeEntries.map((e) => [e.key, e.value]));

    if (this.leading()) await reconcileSubnets(this.store, this.network, [...nodes.values()], now, this.log, this.skipBad);

    // Certificates of removed nodes go with them.
    for (const c of await this.store.list('certificates', this.skipBad))
      if (!nodes.has(c.key)) {
        await this.store.delete('certificates', c.key, { expectedRevision: c.revision }).catch(() => {});
        this.log.info({ node: c.key }, 'removed the certificate record of a removed node');
      }

    // Several decisions at once: each waits mostly on the store (read the certificate, write it,
    // mark the request; two synced writes on etcd), and they touch different keys with
    // compare-and-swaps, so a request is still decided once. Leadership is asked before each.
    const pending = (await this.store.list('csrs', this.skipBad)).filter((c) => c.value.status === 'pending');
    await forEachLimited(pending, CSR_DECISIONS_IN_FLIGHT, async (csr) => {
      if (this.stopped || !this.leading()) return;
      await decideCsr(this.store, csr, nodes, bundle, this.ca, now, this.log);
    });
    if (this.stopped) return;

    if (this.leading()) await this.ca.rolloverStep(now, bundle, revision, [...nodes.values()]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    for (const s of this.stops) s();
    this.stops = [];
    await this.runner.stop();
  }
}
