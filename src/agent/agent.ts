import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import type http from 'node:http';
import type { Logger } from '../util/log.js';
import { WorkQueue, type SyncResult } from '../util/work-queue.js';
import { FsStore } from '../store/fs-store.js';
import { NETWORK_KEY, type NetworkDoc } from '../store/documents.js';
import { nodeDir, storeDir } from '../store/layout.js';
import type { Store } from '../store/store.js';
import { openStore, type StoreSpec } from '../store/open-store.js';
import { CredentialKeeper } from '../pki/keeper.js';
import { registerNode } from '../pki/enroll.js';
import { loadOrCreateIdentity, type NodeIdentity } from '../pki/node-identity.js';
import { parseClockOffset, type ShiftableClock } from '../pki/time.js';
import type { TunPort } from '../overlay/node-overlay.js';
import { ControlServer } from '../host/control-server.js';
import type { ControlResponse } from '../host/control-protocol.js';
import { handleAgentRequest } from './agent-control.js';
import { agentState, StateFile, type AgentPhase, type AgentState } from './agent-state.js';
import { AgentAuth } from './auth.js';
import { DEFAULT_TIMERS, type ConnectionTimers } from './connections.js';
import { AGENT_SOCKET, LIBRESWAN_LOG, parseAgentRequest, type AgentRequest } from './control.js';
import { ControlPlaneHealth, startLiveness } from './control-plane.js';
import type { LivenessLease } from '../store/etcd-liveness.js';
import { CredentialLoader } from './credentials.js';
import { OnDemandWatch } from './on-demand-watch.js';
import { LibreswanLog } from './libreswan-log.js';
import { NodeSync } from './node-sync.js';
import { DEFAULT_PLAN_TIMING } from './plan.js';
import { PeerConnections } from './peer-controller.js';
import type { AgentSnapshot } from './status.js';
import { detectUnderlay, interfaceOf } from './underlay.js';

export type { AgentPhase, AgentState } from './agent-state.js';

export interface AgentOptions {
  node: string;
  stateDir: string;
  /** Where the control plane meets (default: the directory store in <stateDir>/store). */
  store?: StoreSpec;
  log: Logger;
  underlayIp?: string;
  tunName?: string;
  /** Prometheus /metrics on the underlay address; 0 or absent: off. */
  metricsPort?: number;
  /** The engines' clock (timers: rekeys, DPD, retransmits, lifetimes). */
  now?: () => number;
  /** The wall clock for certificates (validity, renewal, enrollment); default: `now`. */
  wallClock?: ShiftableClock;
  /** Allow `clock/offset` on the control socket (a test hook: the CLI allows it only under OI_CLOCK_OFFSET). */
  clockControl?: boolean;
  timers?: Partial<ConnectionTimers>;
  /**
   * How often the store is probed (ms): one small read, so that an unreachable control plane shows
   * within seconds (and a full node sync follows when it answers again). Every PEER_RESYNC_MS
   * the probe is a full node sync and a resync of every peer instead — a safety net, since store
   * events, engine events and the queue's back-off drive the work. Default: 4–6 s, jittered per
   * agent so that a cluster's agents do not probe in step.
   */
  reconcileMs?: number;
  /** How long the higher system-id waits for the peer to initiate before it initiates itself (ms). */
  responderGraceMs?: number;
  /** How long enrollment waits for the operator (ms). */
  enrollTimeoutMs?: number;
  openTun?: (name: string) => TunPort;
  /** Keep Wireshark key logs here (only when asked: they hold the SA keys). */
  keylogDir?: string;
}

/** How long the state file may lag the events that change it (ms). */
const STATE_WRITE_DELAY_MS = 1000;
/** The shortest time between two node syncs asked for by events (ms). */
const NODE_SYNC_INTERVAL_MS = 1000;
/**
 * How often the periodic resync is a full node sync and looks at every peer (ms). Store events
 * (inotify or etcd watches, each with its own catch-up) drive the node syncs; this only catches
 * what they could miss. A full pass lists every node, subnet and report: at 4–6 s on every agent
 * of a 100-node cluster those listings were a sizeable part of its CPU at rest.
 */
const PEER_RESYNC_MS = 30_000;

/** The work queue's key for the node itself (peer keys are connection names, never empty). */
const NODE_KEY = '';

/**
 * The node agent (the seed's ovs-monitor-ipsec with pluto), as a thin shell: it registers and
 * enrolls the node, watches the store, serves the control socket and writes the state file. The
 * work is done by syncs on a per-key queue with back-off — the node's (NodeSync: desired state,
 * credentials, data plane, overlay peers) and one per peer connection (PeerConnections: planner
 * and executor) — asked for by store events, a periodic resync, child installs and unknown SPIs.
 */
export class Agent {
  readonly dir: string;
  readonly socketPath: string;
  private readonly now: () => number;
  /** Certificates are judged by this clock, timers by `now`. */
  private readonly pkiNow: () => number;
  private readonly log: Logger;
  private readonly auth: AgentAuth;
  private readonly queue: WorkQueue<string>;
  private readonly peers: PeerConnections;
  private readonly stateFile: StateFile;
  /** Whether the store answers (static stability: an unreachable store changes nothing on the node). */
  readonly controlPlane: ControlPlaneHealth;
  private store: Store | undefined;
  private identity: NodeIdentity | undefined;
  private keeper: CredentialKeeper | undefined;
  private node: NodeSync | undefined;
  private control: ControlServer<AgentRequest> | undefined;
  private metricsServer: http.Server | undefined;
  private libreswan: LibreswanLog | undefined;
  private liveness: LivenessLease | undefined;
  private stops: (() => void)[] = [];
  private reports: OnDemandWatch | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stateTimer: NodeJS.Timeout | undefined;
  private kickTimer: NodeJS.Timeout | undefined;
  private lastNodeSync = -Infinity;
  private resyncPeers = false;
  private probing = false;
  private lastPeerResync = performance.now();
  private stopped = false;
  private phase: AgentPhase = 'starting';
  private underlay: { address: string; mtu: number; iface: string | undefined } | undefined;
  /** Node syncs run so far (tests and status). */
  passes = 0;

  constructor(private readonly opts: AgentOptions) {
    this.now = opts.now ?? Date.now;
    this.pkiNow = opts.wallClock?.now ?? this.now;
    this.log = opts.log;
    this.dir = nodeDir(opts.stateDir, opts.node);
    this.socketPath = path.join(this.dir, AGENT_SOCKET);
    this.auth = new AgentAuth(this.pkiNow);
    this.stateFile = new StateFile(this.dir);
    this.controlPlane = new ControlPlaneHealth(this.pkiNow, this.log, () => this.writeState());
    this.queue = new WorkQueue<string>({
      sync: (key) => (key === NODE_KEY ? this.syncNode() : this.peers.sync(key)),
      onError: (key, err, ms) => this.log.error({ key: key || 'node', err: err.message, retry_in_ms: ms }, 'sync failed; retrying after a back-off'),
    });
    this.peers = new PeerConnections({
      log: this.log,
      now: this.now,
      timing: { ...DEFAULT_PLAN_TIMING, ...(opts.responderGraceMs === undefined ? {} : { responderGraceMs: opts.responderGraceMs }) },
      queue: this.queue,
    });
  }

  async start(): Promise<void> {
    this.identity = await loadOrCreateIdentity(this.opts.stateDir, this.opts.node);
    this.libreswan = new LibreswanLog(path.join(this.dir, LIBRESWAN_LOG), this.now);
    this.control = new ControlServer<AgentRequest>(this.socketPath, (req) => this.handle(req), parseAgentRequest);
    await this.control.listen();
    this.store = this.opts.store ? await openStore(this.opts.store) : await FsStore.open(storeDir(this.opts.stateDir));
    const store = this.store;

    this.setPhase('waiting-network');
    const network = await this.waitForNetwork();
    if (this.stopped) return;
    const address = this.opts.underlayIp ?? (() => {
      const d = detectUnderlay(network.clusterNetwork.map((c) => c.cidr));
      if ('problem' in d) throw new Error(d.problem);
      return d.address;
    })();
    const ifc = interfaceOf(address);
    this.underlay = { address, mtu: ifc.mtu, iface: ifc.iface };
    const self = { node: this.opts.node, systemId: this.identity.systemId, underlay: address };
    await registerNode(store, this.identity, this.pkiNow, address);
    this.log.info({ node: this.opts.node, system_id: this.identity.systemId, underlay: address, mtu: ifc.mtu }, 'node registered');
    this.liveness = startLiveness(store, this.opts.node, this.identity.systemId, this.controlPlane);

    this.setPhase('enrolling');
    this.keeper = new CredentialKeeper({
      store, stateDir: this.opts.stateDir, node: this.opts.node, underlayIp: address, now: this.pkiNow, log: this.log,
      timeoutMs: this.opts.enrollTimeoutMs ?? 120_000,
      onChange: (ev) => {
        this.log.info({ kind: ev.kind, reason: ev.reason }, 'credentials changed');
        this.kick();
      },
    });
    await this.keeper.start();
    if (this.stopped) return;

    const creds = new CredentialLoader(this.auth, self.systemId, this.log);
    this.node = new NodeSync({
      store, self, creds, credPaths: this.keeper.paths, auth: this.auth, peers: this.peers, log: this.log, now: this.now,
      timers: { ...DEFAULT_TIMERS, ...this.opts.timers }, underlayMtu: ifc.mtu,
      ...(this.opts.tunName ? { tunName: this.opts.tunName } : {}),
      ...(this.opts.openTun ? { openTun: this.opts.openTun } : {}),
      ...(this.opts.keylogDir ? { keylogDir: this.opts.keylogDir } : {}),
      onIkeLog: (line) => this.libreswan?.write(line, (serial) => this.node?.childNameOf(serial)),
      onStateChange: () => this.stateChanged(),
      health: this.controlPlane,
      kick: () => this.kick(),
    });
    if (this.opts.metricsPort) {
      // prom-client is loaded only by agents that serve metrics (it is ~2 MB of every agent's RSS otherwise).
      const { createMetrics, serveMetrics } = await import('./metrics.js');
      const node = this.node;
      const reg = createMetrics({
        snapshot: () => this.snapshot(),
        rekeys: () => node.rekeys,
        certNotAfterMs: () => (creds.cert ? Date.parse(new X509Certificate(creds.cert).validTo) : undefined),
        now: this.pkiNow,
        ready: () => this.state().ready,
        controlPlane: this.controlPlane,
      });
      this.metricsServer = await serveMetrics(reg, address, this.opts.metricsPort);
      this.log.info({ address, port: this.opts.metricsPort }, 'metrics on /metrics');
    }

    const onError = (err: Error): void => this.log.error({ err: err.message }, 'store error');
    for (const c of ['nodes', 'subnets', 'network', 'ca'] as const) this.stops.push(store.watch(c, () => this.kick(), { onError }));
    // Peers' pair states matter only while a pair of ours is switching IPsec on or off: watched only then (syncNode says).
    const reports = new OnDemandWatch(() => store.watch('dataplane', (ev) => {
      if (ev.key !== this.opts.node) this.kick();
    }, { onError }));
    this.reports = reports;
    this.stops.push(() => reports.want(false));
    this.timer = setInterval(() => this.resync(), this.opts.reconcileMs ?? 4000 + Math.random() * 2000);
    await this.reconcile();
  }

  private waitForNetwork(): Promise<NetworkDoc> {
    return new Promise((resolve) => {
      let stop: () => void = () => {};
      let done = false;
      stop = this.store!.watch('network', (ev) => {
        if (done || ev.key !== NETWORK_KEY || ev.type !== 'put' || !ev.value) return;
        done = true;
        queueMicrotask(() => stop());
        resolve(ev.value);
      });
      this.stops.push(() => stop());
    });
  }

  /**
   * Asks for a node sync (the peers whose wanted connection changed get theirs); syncs are queued
   * per key and serialized. At most one node sync starts per NODE_SYNC_INTERVAL_MS: while 100
   * nodes join, store events arrive faster than a sync over every node takes, and one sync covers
   * all the events before it.
   */
  kick(): void {
    if (this.kickTimer) return;
    const wait = Math.max(0, this.lastNodeSync + NODE_SYNC_INTERVAL_MS - performance.now());
    this.kickTimer = setTimeout(() => {
      this.kickTimer = undefined;
      this.queue.add(NODE_KEY);
    }, wait);
  }

  /** The periodic resync: a probe of the store, and every PEER_RESYNC_MS a node sync and every peer. */
  private resync(): void {
    const now = performance.now();
    if (now - this.lastPeerResync >= PEER_RESYNC_MS) {
      this.lastPeerResync = now;
      this.resyncPeers = true;
      this.kick();
      return;
    }
    const node = this.node;
    if (!node || this.probing) return;
    this.probing = true;
    void node.probe().then((answersAgain) => {
      this.probing = false;
      if (answersAgain && !this.stopped) this.kick();
    });
  }

  /** A node sync now, and a sync of every peer, waited for. */
  async reconcile(): Promise<void> {
    this.resyncPeers = true;
    this.queue.forget(NODE_KEY);
    this.queue.add(NODE_KEY);
    await this.queue.idle();
  }

  private async syncNode(): Promise<SyncResult | void> {
    const node = this.node;
    if (!node || this.stopped) return;
    this.passes++;
    this.lastNodeSync = performance.now();
    const { phase, recheckInMs, quiet } = await node.sync(() => this.stopped);
    const resynced = this.resyncPeers;
    if (this.resyncPeers) this.peers.resyncAll();
    if (!this.stopped) this.reports?.want(node.reportMatters());
    this.resyncPeers = false;
    if (phase) this.setPhase(phase);
    // A pass that found the store as it was changed nothing the state file shows (engine events
    // ask for their own writes); the periodic peer resync looks at it anyway, as a safety net.
    if (!quiet || resynced) this.stateChanged();
    return recheckInMs === undefined ? undefined : { outcome: 'ok', recheckInMs };
  }

  snapshot(): AgentSnapshot | undefined {
    return this.keeper ? this.node?.snapshot() : undefined;
  }

  state(): AgentState {
    return agentState({
      node: this.opts.node, systemId: this.identity?.systemId, underlay: this.underlay?.address, phase: this.phase,
      desired: this.node?.desired, readiness: this.keeper ? this.node?.readiness() : undefined, controlPlane: this.controlPlane.view(), socket: this.socketPath, now: this.now(),
    });
  }

  private setPhase(p: AgentPhase): void {
    if (p === this.phase) return;
    this.phase = p;
    this.log.info({ phase: p }, 'agent phase');
    this.writeState();
  }

  /**
   * Readiness may have changed (a child installed, an IKE SA down): the state file follows within
   * STATE_WRITE_DELAY_MS, once for all the events until then — a node bringing up 100 peers makes
   * hundreds of them, and each write looks at every tunnel.
   */
  private stateChanged(): void {
    this.stateTimer ??= setTimeout(() => this.writeState(), STATE_WRITE_DELAY_MS);
  }

  private writeState(): void {
    if (this.stateTimer) clearTimeout(this.stateTimer);
    this.stateTimer = undefined;
    this.stateFile.write(this.state());
  }

  private handle(req: AgentRequest): ControlResponse {
    return handleAgentRequest({
      node: this.opts.node,
      phase: () => this.phase,
      state: () => this.state(),
      snapshot: () => this.snapshot(),
      underlayIface: () => this.underlay?.iface,
      ike: () => this.node?.ike(),
      connections: () => this.peers.names(),
      controlPlaneLine: () => this.controlPlane.statusLine(),
      setClockOffset: (text) => this.setClockOffset(text),
    }, req);
  }

  /**
   * Moves the certificate clock (a test hook for rotation on a live cluster) and checks the
   * credentials at once: a renewal or a new CA bundle follows as it would at that date.
   */
  private setClockOffset(text: string): ControlResponse {
    const clock = this.opts.wallClock;
    if (!this.opts.clockControl || !clock) return { ok: false, error: 'clock/offset is a test hook: start the agent with OI_CLOCK_OFFSET set (e.g. 0) to allow it' };
    let ms: number;
    try {
      ms = parseClockOffset(text);
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
    clock.setOffset(ms);
    this.log.info({ offset_ms: ms, now: new Date(clock.now()).toISOString() }, 'certificate clock moved');
    void this.keeper?.check().catch((err: Error) => this.log.error({ err: err.message }, 'credential check failed'));
    this.kick();
    return { ok: true, now: new Date(clock.now()).toISOString() };
  }

  /** Clean shutdown: IKE DELETEs sent, TUN and sockets closed, socket file removed. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.setPhase('stopping');
    if (this.timer) clearInterval(this.timer);
    if (this.kickTimer) clearTimeout(this.kickTimer);
    for (const s of this.stops) s();
    this.stops = [];
    await this.queue.stop();
    // An enrollment still waiting for the operator must not hold the shutdown up.
    await Promise.race([this.keeper?.stop(), new Promise((r) => setTimeout(r, 1000).unref())]);
    await this.node?.stop();
    await new Promise<void>((r) => (this.metricsServer ? this.metricsServer.close(() => r()) : r()));
    await this.control?.close();
    await this.liveness?.stop(); // revoked: a clean shutdown shows at once, before the store closes
    await this.store?.close();
    this.phase = 'stopped';
    this.stateFile.reset();
    this.writeState();
    await this.stateFile.flushed();
    await this.libreswan?.close();
    this.log.info({ node: this.opts.node }, 'agent stopped');
  }
}
