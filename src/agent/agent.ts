import { readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import type http from 'node:http';
import type { Logger } from '../util/log.js';
import { FsStore } from '../store/fs-store.js';
import { NETWORK_KEY, type NetworkDoc } from '../store/documents.js';
import { nodeDir, storeDir } from '../store/layout.js';
import type { Store } from '../store/store.js';
import { replaceFile } from '../store/atomic-file.js';
import { CredentialKeeper } from '../pki/keeper.js';
import { registerNode } from '../pki/enroll.js';
import { loadOrCreateIdentity, type NodeIdentity } from '../pki/node-identity.js';
import { fingerprintOf, splitPem } from '../pki/cert-info.js';
import { parseClockOffset, type ShiftableClock } from '../pki/time.js';
import { ENCAP_OVERHEAD } from '../overlay/geneve-layout.js';
import type { NodeOverlayConfig } from '../overlay/node-config.js';
import type { TunPort } from '../overlay/node-overlay.js';
import { tunnelName } from '../overlay/tunnel-name.js';
import { ControlServer } from '../host/control-server.js';
import type { ControlResponse } from '../host/control-protocol.js';
import type { IpsecStack, IpsecStackEvent } from '../host/ipsec-stack.js';
import type { IkeEngine } from '../ike/engine.js';
import type { IkeSaView } from '../ike/view.js';
import { AgentAuth } from './auth.js';
import { connectionFor, DEFAULT_TIMERS, initiates, type ConnectionTimers } from './connections.js';
import { AGENT_SOCKET, AGENT_STATE_FILE, LIBRESWAN_LOG, parseAgentRequest, type AgentRequest } from './control.js';
import { DataPlane } from './dataplane.js';
import { contentHash, desiredState, type AgentSelf, type DesiredState } from './desired.js';
import { LibreswanLog } from './libreswan-log.js';
import { createMetrics, serveMetrics } from './metrics.js';
import { formatIpsecStatusDict, formatIpsecStatusText, formatTunnelsShow, ipsecStatusDict, ipsecStatusJson, tunnelsShow, type AgentSnapshot } from './status.js';
import { detectUnderlay, interfaceOf } from './underlay.js';
import { CoalescingRunner } from '../util/coalescing-runner.js';
import { UnknownSpiTrigger } from './unknown-spi.js';

/** ESP-in-UDP overhead on top of Geneve: UDP 8 + ESP header 8 + IV 8 + pad ≤ 3 + trailer 2 + ICV 16. */
const ESP_UDP_OVERHEAD = 46;

export interface AgentOptions {
  node: string;
  stateDir: string;
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
  /** How often the reconcile loop runs without store events (ms). */
  reconcileMs?: number;
  /** How long the higher system-id waits for the peer to initiate before it initiates itself (ms). */
  responderGraceMs?: number;
  /** How long enrollment waits for the operator (ms). */
  enrollTimeoutMs?: number;
  openTun?: (name: string) => TunPort;
  /** Keep Wireshark key logs here (only when asked: they hold the SA keys). */
  keylogDir?: string;
}

/**
 * An IKE SA whose two children (the seed's -in-1 and -out-1) are both installed, and installed at
 * the peer too: children we made ourselves (not answered), since the peer installs an answered
 * child only when our response arrives. Old SAs are deleted only in favour of such an SA: our
 * outbound then moves to pairs the peer certainly has.
 */
function complete(sa: { children: { name: string; state: string; answered?: boolean }[] }): boolean {
  return new Set(sa.children.filter((c) => c.state === 'installed' && !c.answered).map((c) => c.name)).size >= 2;
}

export type AgentPhase = 'starting' | 'waiting-network' | 'enrolling' | 'waiting-subnet' | 'running' | 'stopping' | 'stopped';

/** What `agent/state` answers and `<node dir>/agent.json` holds: the simple signal `up` waits on. */
export interface AgentState {
  node: string;
  system_id: string | undefined;
  pid: number;
  phase: AgentPhase;
  ipsec: string | undefined;
  underlay: string | undefined;
  subnet: string | undefined;
  peers: number;
  tunnels: number;
  established: number;
  /** All peers have tunnels, and with IPsec on, both children of each are installed. */
  ready: boolean;
  waiting: { node: string; reason: string }[];
  socket: string;
  updated_at: string;
}

interface ConnEntry {
  hash: string;
  peerSystemId: string;
  initiator: boolean;
  addedAt: number;
  /** Since when no IKE SA existed for this connection (the responder's grace period). */
  noSaSince: number | undefined;
  lastChildAttempt: number;
  /**
   * A make-before-break re-authentication in progress: the IKE SAs (serials) it replaces, and
   * when it (last) started. The old SAs are deleted only once a new one carries both children.
   */
  reauth?: { old: Set<number>; since: number };
  /** The peer's certificate serial as its node record last said, and since when it says another. */
  peerCert?: string | undefined;
  peerCertChangedAt?: number | undefined;
}

/**
 * How long a peer's new certificate serial must have been in the store before the initiator
 * re-authenticates for it: the peer's agent loads the new files a moment after reporting them.
 */
const PEER_CERT_SETTLE_MS = 1000;

/** How long a re-authentication may go without a new IKE SA before it is started again (ms). */
const REAUTH_RETRY_MS = 5000;

/**
 * The node agent (the seed's ovs-monitor-ipsec with pluto): registers and enrolls the node, then
 * reconciles the store's desired state (nodes, subnets, network config, CA bundle, own
 * certificate) against the engines' actual state: one Geneve tunnel and one IKE connection per
 * peer, IPsec on or off, credentials by content hash. Passes are serialized and idempotent.
 */
export class Agent {
  readonly dir: string;
  readonly socketPath: string;
  private readonly now: () => number;
  /** Certificates are judged by this clock, timers by `now`. */
  private readonly pkiNow: () => number;
  private readonly log: Logger;
  private readonly timers: ConnectionTimers;
  private store: Store | undefined;
  private identity: NodeIdentity | undefined;
  private self: AgentSelf | undefined;
  private keeper: CredentialKeeper | undefined;
  private readonly auth: AgentAuth;
  private dataPlane: DataPlane | undefined;
  private dataPlaneHash = '';
  private peersHash = '';
  private credsHash = '';
  private certPem: string | undefined;
  private trustedFps: string[] = [];
  private readonly conns = new Map<string, ConnEntry>();
  /** Peer underlay address → connection name, for ESP that arrives for an SPI we do not know. */
  private readonly connByAddress = new Map<string, string>();
  /** Made with each data plane, so its counts add up to that data path's unknown_spi. */
  private unknownSpi: UnknownSpiTrigger | undefined;
  private desired: DesiredState | undefined;
  private control: ControlServer<AgentRequest> | undefined;
  private metricsServer: http.Server | undefined;
  private libreswan: LibreswanLog | undefined;
  private readonly rekeys = new Map<string, number>();
  private stops: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly runner = new CoalescingRunner(
    () => this.reconcileOnce(),
    (err) => this.log.error({ err: err.message }, 'reconcile pass failed; retrying on the next event or tick'),
  );
  private stopped = false;
  private phase: AgentPhase = 'starting';
  private lastStateJson = '';
  private stateWrites: Promise<void> = Promise.resolve();
  private underlayMtu = 1500;
  private underlayIface: string | undefined;
  /** Passes run so far (tests and status). */
  passes = 0;

  constructor(private readonly opts: AgentOptions) {
    this.now = opts.now ?? Date.now;
    this.pkiNow = opts.wallClock?.now ?? this.now;
    this.log = opts.log;
    this.timers = { ...DEFAULT_TIMERS, ...opts.timers };
    this.dir = nodeDir(opts.stateDir, opts.node);
    this.socketPath = path.join(this.dir, AGENT_SOCKET);
    this.auth = new AgentAuth(this.pkiNow);
  }

  async start(): Promise<void> {
    this.identity = await loadOrCreateIdentity(this.opts.stateDir, this.opts.node);
    this.libreswan = new LibreswanLog(path.join(this.dir, LIBRESWAN_LOG), this.now);
    this.control = new ControlServer<AgentRequest>(this.socketPath, (req) => this.handle(req), parseAgentRequest);
    await this.control.listen();
    this.store = await FsStore.open(storeDir(this.opts.stateDir));
    const store = this.store;

    this.setPhase('waiting-network');
    const network = await this.waitForNetwork();
    if (this.stopped) return;
    const underlay = this.opts.underlayIp ?? (() => {
      const d = detectUnderlay(network.clusterNetwork.map((c) => c.cidr));
      if ('problem' in d) throw new Error(d.problem);
      return d.address;
    })();
    const ifc = interfaceOf(underlay);
    this.underlayMtu = ifc.mtu;
    this.underlayIface = ifc.iface;
    this.self = { node: this.opts.node, systemId: this.identity.systemId, underlay };
    await registerNode(store, this.identity, this.pkiNow, underlay);
    this.log.info({ node: this.opts.node, system_id: this.identity.systemId, underlay, mtu: this.underlayMtu }, 'node registered');

    this.setPhase('enrolling');
    this.keeper = new CredentialKeeper({
      store, stateDir: this.opts.stateDir, node: this.opts.node, underlayIp: underlay, now: this.pkiNow, log: this.log,
      timeoutMs: this.opts.enrollTimeoutMs ?? 120_000,
      onChange: (ev) => {
        this.log.info({ kind: ev.kind, reason: ev.reason }, 'credentials changed');
        this.kick();
      },
    });
    await this.keeper.start();
    if (this.stopped) return;

    if (this.opts.metricsPort) {
      const reg = createMetrics({
        snapshot: () => this.snapshot(),
        rekeys: () => this.rekeys,
        certNotAfterMs: () => (this.certPem ? Date.parse(new X509Certificate(this.certPem).validTo) : undefined),
        now: this.pkiNow,
        ready: () => this.state().ready,
      });
      this.metricsServer = await serveMetrics(reg, underlay, this.opts.metricsPort);
      this.log.info({ address: underlay, port: this.opts.metricsPort }, 'metrics on /metrics');
    }

    const onError = (err: Error): void => this.log.error({ err: err.message }, 'store error');
    for (const c of ['nodes', 'subnets', 'network', 'ca'] as const) this.stops.push(store.watch(c, () => this.kick(), { onError }));
    this.timer = setInterval(() => this.kick(), this.opts.reconcileMs ?? 2000);
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

  /** Asks for a pass; passes are serialized and coalesced. */
  kick(): void {
    this.runner.kick();
  }

  async reconcile(): Promise<void> {
    await this.runner.runNow();
  }

  private async reconcileOnce(): Promise<void> {
    const store = this.store!;
    const self = this.self!;
    this.passes++;
    const [net, nodes, subnets] = await Promise.all([store.get('network', NETWORK_KEY), store.list('nodes'), store.list('subnets')]);
    if (!net || this.stopped) return;
    const d = desiredState(self, net.value, nodes.map((n) => n.value), subnets.map((s) => s.value));
    this.desired = d;
    if (!d.local) {
      this.setPhase('waiting-subnet');
      this.writeState();
      return;
    }

    if (d.ipsec) await this.reconcileCredentials();

    // The data plane: rebuilt only when what it is made of changes (first start, IPsec mode, subnet, MTU).
    const overlayCfg = this.overlayConfig(d);
    const dpHash = contentHash({ local: overlayCfg.local, ipsec: d.ipsec, mtu: overlayCfg.mtu, underlayMtu: overlayCfg.underlayMtu, routes: overlayCfg.routes, port: overlayCfg.port });
    if (dpHash !== this.dataPlaneHash) {
      if (this.dataPlane) {
        this.log.info({ ipsec: d.mode }, 'data plane changes; rebuilding it');
        await this.dataPlane.stop();
        this.dataPlane = undefined;
        this.conns.clear();
        this.connByAddress.clear();
        this.peersHash = '';
      }
      if (d.ipsec && !this.auth.hasCredentials) return;
      this.unknownSpi = new UnknownSpiTrigger({ now: this.now });
      this.dataPlane = await DataPlane.start({
        overlay: overlayCfg,
        ipsec: d.ipsec,
        auth: this.auth,
        now: this.now,
        log: this.log,
        onStackEvent: (e) => this.onStackEvent(e),
        ...(this.opts.openTun ? { openTun: this.opts.openTun } : {}),
        ...(this.opts.keylogDir ? { keylogDir: this.opts.keylogDir } : {}),
        onUnknownSpi: (_spi, from) => this.onUnknownSpi(from.address),
      });
      this.dataPlaneHash = dpHash;
      this.log.info({ tun: overlayCfg.tunName, subnet: d.local.subnet, vni: d.local.vni, ipsec: d.mode, mtu: overlayCfg.mtu, underlayMtu: overlayCfg.underlayMtu }, 'data plane up');
    }
    const dp = this.dataPlane!;

    const peersHash = contentHash(d.peers);
    if (peersHash !== this.peersHash) {
      dp.overlay.engine.setPeers(d.peers);
      this.peersHash = peersHash;
      this.log.info({ peers: d.peers.map((p) => `${p.node}=${p.underlay} ${p.subnet} ${tunnelName(p.systemId)}`), waiting: d.waiting }, 'overlay peers');
    }
    if (dp.stack) this.reconcileConnections(d, dp.stack, new Map(nodes.map((n) => [n.value.name, n.value.cert_serial])));
    this.setPhase('running');
    this.writeState();
  }

  private overlayConfig(d: DesiredState): NodeOverlayConfig {
    const underlayMtu = this.underlayMtu - (d.ipsec ? ESP_UDP_OVERHEAD : 0);
    return {
      local: d.local!,
      peers: [],
      tunName: this.opts.tunName ?? 'ovn-k8s-tun0',
      mtu: Math.min(d.mtu, underlayMtu - ENCAP_OVERHEAD),
      underlayMtu,
      routes: d.clusterNetworks.map((dst) => ({ dst, src: d.gateway! })),
      port: d.genevePort,
      senders: 8,
    };
  }

  /** Reads the node's key, certificate and CA bundle; on a change of content, new credentials (and re-auth when needed). */
  private async reconcileCredentials(): Promise<void> {
    const p = this.keeper!.paths;
    const rd = (f: string): Promise<string | undefined> => readFile(f, 'utf8').catch(() => undefined);
    const [certPem, keyPem, caPem] = await Promise.all([rd(p.certPath), rd(p.keyPath), rd(p.caPath)]);
    if (!certPem || !keyPem || !caPem) return;
    const hash = contentHash({ certPem, keyPem, caPem });
    if (hash === this.credsHash) return;
    const fps = splitPem(caPem).map(fingerprintOf);
    const first = this.credsHash === '';
    const certChanged = !first && certPem !== this.certPem;
    const trustNarrowed = !first && this.trustedFps.some((f) => !fps.includes(f));
    try {
      this.auth.setCredentials({ certPem, keyPem, caPem, systemId: this.self!.systemId });
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'node credentials unusable; keeping the previous ones');
      return;
    }
    this.credsHash = hash;
    this.certPem = certPem;
    this.trustedFps = fps;
    this.log.info({ cas: fps.length, certChanged, trustNarrowed }, first ? 'IKE credentials loaded' : 'IKE credentials reloaded');
    const stack = this.dataPlane?.stack;
    if ((certChanged || trustNarrowed) && stack) {
      // Re-authenticate make-before-break (strongSwan's make_before_break): a new IKE SA with the
      // new credentials and its children come up next to the old ones, which keep carrying
      // traffic until then; the old SAs are deleted afterwards (finishReauth). Tearing them down
      // first, as before, lost every packet until the new SAs were up. Only the initiator of a
      // pair does it; the peer's initiator does it for us when it sees our new serial.
      stack.apply(() => {
        for (const [name, entry] of this.conns) if (entry.initiator) this.reauthenticate(stack, name, entry);
      });
    }
  }

  /**
   * One end re-authenticates a pair, the initiator: for its own new credentials and for the
   * peer's, which it learns from the peer's node record (cert_serial). Two ends doing it at once
   * made duplicate IKE SAs whose clean-up raced with the data path.
   */
  private watchPeerCert(stack: IpsecStack, name: string, entry: ConnEntry, serial: string | undefined, now: number): void {
    if (entry.peerCert === undefined || serial === undefined) {
      entry.peerCert ??= serial;
      return;
    }
    if (serial === entry.peerCert) {
      entry.peerCertChangedAt = undefined;
      return;
    }
    entry.peerCertChangedAt ??= now;
    if (now - entry.peerCertChangedAt < PEER_CERT_SETTLE_MS) {
      // Come back for it even if nothing else changes meanwhile.
      setTimeout(() => this.kick(), PEER_CERT_SETTLE_MS).unref();
      return;
    }
    this.log.info({ conn: name, peer_cert: serial }, 'the peer has a new certificate');
    entry.peerCert = serial;
    entry.peerCertChangedAt = undefined;
    this.reauthenticate(stack, name, entry);
  }

  /** Starts a new IKE SA for `name` next to the live ones, which it will replace. */
  private reauthenticate(stack: IpsecStack, name: string, entry: ConnEntry): void {
    const live = stack.engine.sas(name);
    // Nothing up to replace: the reconcile loop initiates with the new credentials anyway.
    if (live.length === 0) return;
    entry.reauth = { old: new Set(live.map((s) => s.serial)), since: this.now() };
    this.log.info({ conn: name, replaces: [...entry.reauth.old] }, 're-authenticating (make-before-break)');
    stack.engine.initiate(name);
  }

  /**
   * The break of make-before-break: once an IKE SA made after the re-authentication started is
   * established with both children installed, the SAs it replaces are deleted (DELETE tells the
   * peer). A new SA that never came (refused, peer busy) is tried again.
   */
  private finishReauth(engine: IkeEngine, name: string, entry: ConnEntry, sas: IkeSaView[], now: number): boolean {
    const r = entry.reauth!;
    const fresh = sas.filter((s) => !r.old.has(s.serial));
    if (fresh.some((s) => s.state === 'established' && complete(s))) {
      const old = sas.filter((s) => r.old.has(s.serial));
      for (const s of old) engine.deleteIkeSa(s.serial);
      this.log.info({ conn: name, deleted: old.map((s) => s.serial) }, 're-authenticated; old IKE SAs deleted');
      entry.reauth = undefined;
      return old.length > 0;
    } else if (!sas.some((s) => r.old.has(s.serial))) {
      // The old SAs went on their own (peer deleted them): nothing left to replace.
      entry.reauth = undefined;
    } else if (fresh.length === 0 && now - r.since >= REAUTH_RETRY_MS) {
      this.log.info({ conn: name }, 're-authentication made no IKE SA; trying again');
      r.since = now;
      engine.initiate(name);
    }
    return false;
  }

  /** Connections and SAs towards the desired peers; the engine's outputs leave once the pass is done. */
  private reconcileConnections(d: DesiredState, stack: IpsecStack, peerCerts: Map<string, string | undefined>): void {
    stack.apply((engine) => this.reconcileSas(d, stack, engine, peerCerts));
  }

  private reconcileSas(d: DesiredState, stack: IpsecStack, engine: IkeEngine, peerCerts: Map<string, string | undefined>): void {
    const self = this.self!;
    const now = this.now();
    const wanted = new Map(d.peers.map((p) => [tunnelName(p.systemId), p]));
    for (const [name, entry] of this.conns) {
      const peer = wanted.get(name);
      if (peer && contentHash(connectionFor(self, peer, d.genevePort, this.timers)) === entry.hash) continue;
      stack.removeConnection(name);
      this.auth.removePeer(name);
      this.conns.delete(name);
      for (const [addr, n] of this.connByAddress) if (n === name) this.connByAddress.delete(addr);
      this.unknownSpi?.forget(name);
      this.log.info({ conn: name, peer: peer?.node }, peer ? 'peer changed; connection replaced' : 'peer left; connection removed');
    }
    for (const [name, peer] of wanted) {
      if (this.conns.has(name)) continue;
      const cfg = connectionFor(self, peer, d.genevePort, this.timers);
      this.auth.setPeer(name, peer.systemId);
      engine.addConnection(cfg);
      this.conns.set(name, { hash: contentHash(cfg), peerSystemId: peer.systemId, initiator: initiates(self, peer), addedAt: now, noSaSince: now, lastChildAttempt: 0 });
      this.connByAddress.set(peer.underlay, name);
      this.log.info({ conn: name, peer: peer.node, remote: peer.underlay, initiator: initiates(self, peer) }, 'connection added');
    }
    const byConn = new Map<string, IkeSaView[]>();
    for (const s of engine.sas()) byConn.set(s.connection, [...(byConn.get(s.connection) ?? []), s]);
    for (const [name, entry] of this.conns) {
      const sas = byConn.get(name) ?? [];
      if (sas.length === 0) {
        entry.noSaSince ??= now;
        const grace = this.opts.responderGraceMs ?? 8000;
        if (entry.initiator || now - entry.noSaSince >= grace) {
          engine.initiate(name);
          entry.noSaSince = now;
        }
        continue;
      }
      entry.noSaSince = undefined;
      if (entry.initiator) this.watchPeerCert(stack, name, entry, peerCerts.get(wanted.get(name)!.node), now);
      // A pass that finished a re-authentication has deleted SAs: the rest waits for the next
      // pass, on a fresh status (this one still lists them as established).
      if (entry.reauth && this.finishReauth(engine, name, entry, sas, now)) continue;
      const up = sas.find((s) => s.state === 'established');
      if (!up || !entry.initiator) continue;
      // More than one IKE SA (both ends re-authenticated at once): the initiator keeps its newest
      // complete one and deletes the others, the peer's included (the peer then sends on pairs
      // we made, which both ends have).
      const keep = sas.filter((s) => s.state === 'established' && complete(s)).sort((x, y) => y.serial - x.serial)[0];
      if (!entry.reauth && keep) {
        for (const s of sas.filter((x) => x !== keep && x.state === 'established')) {
          this.log.info({ conn: name, serial: s.serial, keep: keep.serial }, 'deleting a duplicate IKE SA');
          engine.deleteIkeSa(s.serial);
        }
      }
      // Two installed children of one name (both ends created it at once): the initiator deletes
      // the older, so both ends keep the same one. A rekey's old child is 'rekeyed', not counted.
      const byName = new Map<string, typeof up.children>();
      for (const c of up.children) if (c.state === 'installed') byName.set(c.name, [...(byName.get(c.name) ?? []), c]);
      for (const list of byName.values()) {
        for (const old of list.sort((x, y) => y.serial - x.serial).slice(1)) {
          this.log.info({ conn: name, child: old.name, serial: old.serial }, 'deleting a duplicate child SA');
          engine.deleteChildSa(old.spiIn);
        }
      }
      if (now - entry.lastChildAttempt < 10_000) continue;
      // A child that failed or was deleted while its IKE SA lives: the initiator asks again.
      for (const child of connectionFor(self, wanted.get(name)!, d.genevePort, this.timers).children) {
        if (!up.children.some((c) => c.name === child.name)) {
          entry.lastChildAttempt = now;
          engine.createChild(name, child.name);
        }
      }
    }
  }

  /**
   * ESP for an SPI we do not know from `address`. When it comes from a peer we hold no IKE SA
   * with, the peer still has SAs we lost (we restarted): initiate now rather than after the
   * responder's grace period — our IKE_AUTH carries INITIAL_CONTACT, which makes the peer drop
   * them. Bounded and counted by UnknownSpiTrigger (anyone can send such packets).
   */
  private onUnknownSpi(address: string): void {
    const trigger = this.unknownSpi!;
    const stack = this.dataPlane?.stack;
    const name = this.connByAddress.get(address);
    const entry = name === undefined ? undefined : this.conns.get(name);
    if (!stack || name === undefined || !entry) {
      trigger.onPacket(undefined);
      return;
    }
    trigger.onPacket({
      name,
      hasLiveIkeSa: () => stack.engine.hasLiveIkeSa(name),
      // Out of the data path's receive loop: the engine runs and sends after this batch.
      initiate: () => queueMicrotask(() => {
        if (this.stopped || this.dataPlane?.stack !== stack || !this.conns.has(name)) return;
        entry.noSaSince = this.now();
        this.log.info({ conn: name, peer: address }, 'ESP for an unknown SPI from a peer we hold no IKE SA with: initiating (with INITIAL_CONTACT) now');
        stack.initiate(name);
      }),
    });
  }

  /**
   * What the IPsec stack reports. Readiness follows child installs at once, not on the next pass;
   * so does the end of a re-authentication (a pass deletes the SAs the new child's IKE SA
   * replaces); an IKE SA that went down is set up again by the next pass, asked for now.
   */
  private onStackEvent(e: IpsecStackEvent): void {
    switch (e.type) {
      case 'ike-log':
        this.libreswan?.write(e.line, (serial) => this.childNameOf(serial));
        break;
      case 'child-installed': {
        queueMicrotask(() => this.writeState());
        const tunnel = e.spec.name.split('/')[0]!;
        if (this.conns.get(tunnel)?.reauth) this.kick();
        if (e.spec.replacesSpiIn !== undefined) this.rekeys.set(tunnel, (this.rekeys.get(tunnel) ?? 0) + 1);
        break;
      }
      case 'ike-down':
        queueMicrotask(() => this.writeState());
        // A failed initiation is retried at the usual pace, not at once.
        if (e.established) this.kick();
        break;
      default:
        break;
    }
  }

  private childNameOf(serial: number): string | undefined {
    for (const s of this.dataPlane?.stack?.engine.sas() ?? []) {
      const c = s.children.find((x) => x.serial === serial);
      if (c) return c.name;
    }
    return undefined;
  }

  snapshot(): AgentSnapshot | undefined {
    const dp = this.dataPlane;
    if (!dp || !this.self || !this.keeper) return undefined;
    const p = this.keeper.paths;
    const stack = dp.stack;
    const c = stack?.counters();
    return {
      node: this.self.node,
      systemId: this.self.systemId,
      underlay: this.self.underlay,
      ipsec: !!stack,
      overlay: dp.overlay.engine.status(),
      ...(stack ? { ike: stack.engine.status(), esp: stack.esp.status() } : {}),
      creds: { cert: p.certPath, key: p.keyPath, ca: p.caPath },
      udp: { keepalives: c?.keepalives ?? 0, ike_datagrams: c?.ike_datagrams ?? 0, malformed: c?.malformed ?? 0, send_drops: c?.send_drops ?? 0 },
      tun: { name: dp.overlay.tun.name, write_errors: dp.overlay.overlay.tunWriteFailures },
      ...(stack && this.unknownSpi ? { unknownSpi: this.unknownSpi.counters } : {}),
    };
  }

  state(): AgentState {
    const snap = this.snapshot();
    const tunnels = snap ? tunnelsShow(snap) : [];
    const d = this.desired;
    const peers = d?.peers.length ?? 0;
    const established = tunnels.filter((t) => t.established).length;
    const ready = this.phase === 'running' && !!snap && tunnels.length === peers && (snap.ipsec ? established === peers : true);
    return {
      node: this.opts.node,
      system_id: this.identity?.systemId,
      pid: process.pid,
      phase: this.phase,
      ipsec: d?.mode,
      underlay: this.self?.underlay,
      subnet: d?.local?.subnet,
      peers,
      tunnels: tunnels.length,
      established,
      ready,
      waiting: d?.waiting ?? [],
      socket: this.socketPath,
      updated_at: new Date(this.now()).toISOString(),
    };
  }

  private setPhase(p: AgentPhase): void {
    if (p === this.phase) return;
    this.phase = p;
    this.log.info({ phase: p }, 'agent phase');
    this.writeState();
  }

  /** `<node dir>/agent.json`, rewritten (atomically) when something other than the time changed. */
  private writeState(): void {
    const st = this.state();
    const key = JSON.stringify({ ...st, updated_at: '' });
    if (key === this.lastStateJson) return;
    this.lastStateJson = key;
    // Writes go out in the order they were made: two in flight at once could otherwise finish in
    // the other order and leave the older state in the file, with nothing left to correct it.
    const text = JSON.stringify(st, null, 2) + '\n';
    const file = path.join(this.dir, AGENT_STATE_FILE);
    this.stateWrites = this.stateWrites.then(() => replaceFile(file, text, 0o644)).catch(() => undefined);
  }

  private handle(req: AgentRequest): ControlResponse {
    if (req.cmd === 'agent/state') return { ok: true, state: this.state() };
    if (req.cmd === 'clock/offset') return this.setClockOffset(req.offset);
    const snap = this.snapshot();
    if (!snap) return { ok: false, error: `agent of node ${this.opts.node} is ${this.phase}: no data plane yet` };
    switch (req.cmd) {
      case 'status':
        return { ok: true, status: ipsecStatusJson(snap), text: formatIpsecStatusText(snap, this.underlayIface) };
      case 'tunnels/show': {
        const t = tunnelsShow(snap);
        return { ok: true, tunnels: t, text: formatTunnelsShow(t) };
      }
      case 'ipsec/status': {
        const dict = ipsecStatusDict(tunnelsShow(snap));
        return { ok: true, status: dict, text: formatIpsecStatusDict(dict) };
      }
      default: {
        if (!('conn' in req)) return { ok: false, error: `unknown command ${req.cmd}` };
        const stack = this.dataPlane?.stack;
        if (!stack) return { ok: false, error: 'IPsec is disabled in the cluster network config: no IKE connections' };
        if (!this.conns.has(req.conn)) return { ok: false, error: `no connection named "${req.conn}" (tunnels: ${[...this.conns.keys()].join(', ') || 'none'})` };
        let done: boolean;
        if (req.cmd === 'initiate') {
          if (req.child) done = stack.createChild(req.conn, req.child);
          else {
            stack.initiate(req.conn);
            done = true;
          }
        } else if (req.cmd === 'rekey') done = req.child ? stack.rekeyChild(req.conn, req.child) : stack.rekeyIke(req.conn);
        else done = stack.terminate(req.conn, req.child);
        return done ? { ok: true } : { ok: false, error: `${req.cmd} ${req.conn}${req.child ? `/${req.child}` : ''}: nothing to do (no established SA)` };
      }
    }
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
    for (const s of this.stops) s();
    this.stops = [];
    await this.runner.stop();
    // An enrollment still waiting for the operator must not hold the shutdown up.
    await Promise.race([this.keeper?.stop(), new Promise((r) => setTimeout(r, 1000).unref())]);
    await this.dataPlane?.stop();
    this.dataPlane = undefined;
    await new Promise<void>((r) => (this.metricsServer ? this.metricsServer.close(() => r()) : r()));
    await this.control?.close();
    await this.store?.close();
    this.phase = 'stopped';
    this.lastStateJson = '';
    this.writeState();
    await this.stateWrites;
    await this.libreswan?.close();
    this.log.info({ node: this.opts.node }, 'agent stopped');
  }
}
