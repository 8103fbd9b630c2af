import type { Logger } from '../util/log.js';
import type { IkeEngine } from '../ike/engine.js';
import type { IpsecStack, IpsecStackEvent } from '../host/ipsec-stack.js';
import { NETWORK_KEY, type DataplaneDoc } from '../store/documents.js';
import { reportOnce, type Entry, type ListOptions, type Store } from '../store/store.js';
import { ENCAP_OVERHEAD } from '../overlay/geneve-layout.js';
import type { NodeOverlayConfig } from '../overlay/node-config.js';
import type { TunPort } from '../overlay/node-overlay.js';
import { tunnelName } from '../overlay/tunnel-name.js';
import type { AgentAuth } from './auth.js';
import type { ConnectionTimers } from './connections.js';
import type { ControlPlaneHealth } from './control-plane.js';
import type { CredentialLoader, CredentialPaths } from './credentials.js';
import { DataPlane } from './dataplane.js';
import { DesiredConnectionCache } from './desired-connections.js';
import { contentHash, desiredState, type AgentSelf, type DesiredState } from './desired.js';
import { enginePort } from './engine-port.js';
import type { ConnectionPort } from './executor.js';
import type { PeerConnections } from './peer-controller.js';
import type { AgentSnapshot } from './status.js';
import { UnknownSpiTrigger } from './unknown-spi.js';
import { ModeSwitch } from './mode-switch.js';
import { holdingOf } from './pair-holding.js';
import { establishedTunnels, saCounts } from './readiness.js';
import type { Readiness } from './agent-state.js';
import type { WantedMode } from './pair-mode.js';

/** How long a peer's packets on the path it left may still arrive after it reports switching. */
const DRAIN_MS = 1000;

/** ESP-in-UDP overhead on top of Geneve: UDP 8 + ESP header 8 + IV 8 + pad ≤ 3 + trailer 2 + ICV 16. */
const ESP_UDP_OVERHEAD = 46;

/** What the control socket's IKE commands need: the engine, and the step that sends what they produced. */
export interface IkeCommands {
  engine: IkeEngine;
  pump(): void;
}

export interface NodeSyncOptions {
  store: Store;
  self: AgentSelf;
  creds: CredentialLoader;
  credPaths: CredentialPaths;
  auth: AgentAuth;
  peers: PeerConnections;
  log: Logger;
  now: () => number;
  timers: ConnectionTimers;
  underlayMtu: number;
  tunName?: string;
  openTun?: (name: string) => TunPort;
  keylogDir?: string;
  /** An IKE log line (for the libreswan log). */
  onIkeLog: (line: string) => void;
  /** A child SA installed or gone, an IKE SA up or down: readiness may have changed. */
  onStateChange: () => void;
  /** Told whether each read of the store answered. */
  health: ControlPlaneHealth;
  /** Asks for another node sync (a child installed while a pair is switching). */
  kick: () => void;
  /** See DRAIN_MS (tests shorten it). */
  drainMs?: number;
}

/**
 * The node's part of the agent's sync (the whole-node key of its work queue): reads the store's
 * desired state, loads changed credentials, rebuilds the data plane when what it is made of
 * changes, sets the overlay's peers, and hands the wanted IKE connections to the per-peer syncs.
 */
export class NodeSync {
  private dataPlane: DataPlane | undefined;
  desired: DesiredState | undefined;
  /** Made with each data plane, so its counts add up to that data path's unknown_spi. */
  unknownSpi: UnknownSpiTrigger | undefined;
  readonly rekeys = new Map<string, number>();
  private dataPlaneHash = '';
  private peersHash = '';
  /** The overlay's tunnels, as last given to it. */
  private tunnels: string[] = [];
  /** The store revisions the last full pass worked from ('' : none, or one that did not finish). */
  private revisions = '';
  private reportHash = '';
  /** A child SA came or went since the last full pass: our report's SPIs may be out of date. */
  private holdingsMoved = false;
  private mode: ModeSwitch;
  private readonly connections: DesiredConnectionCache;

  /** Damaged documents (an administrator's garbage) are logged once each and left out. */
  private readonly skipBad: ListOptions;

  constructor(private readonly o: NodeSyncOptions) {
    this.skipBad = { onError: reportOnce((err) => o.log.error({ err: err.message }, 'store document skipped')) };
    this.mode = new ModeSwitch(o.drainMs ?? DRAIN_MS);
    this.connections = new DesiredConnectionCache(o.self, o.timers);
  }

  /**
   * One pass; returns the phase it leaves the node in (undefined: as it was), when to look again,
   * and `quiet` when it found the store as it was (nothing the state file shows can have moved).
   */
  async sync(stopped: () => boolean): Promise<{ phase: 'waiting-subnet' | 'running' | undefined; recheckInMs?: number; quiet?: boolean }> {
    const o = this.o;
    let read;
    let revisions: string;
    try {
      // First the keys and revisions only (no document read): the same as at the last full pass
      // means the wanted state is what it was, and only the credentials (files the store does not
      // hold) are looked at. A 100-node cluster's periodic passes cost three directory listings,
      // not 200 documents, a desired state, a hash and 99 connection configs each time. Not while
      // a pair is switching IPsec (it moves on peers' reports and drain times), nor when our
      // report's SPIs may be out of date.
      revisions = (await Promise.all([o.store.version('network'), o.store.version('nodes'), o.store.version('subnets')])).join(' | ');
      if (revisions === this.revisions && this.dataPlane && !this.mode.switching() && !this.holdingsMoved) {
        o.health.reached();
        if (this.desired?.ipsec) await this.reloadCredentials();
        return { phase: 'running', quiet: true };
      }
      read = await Promise.all([o.store.get('network', NETWORK_KEY), o.store.list('nodes', this.skipBad), o.store.list('subnets', this.skipBad)]);
    } catch (err) {
      // Static stability: a read that failed is no answer at all (least of all "no peers"). The
      // data plane, the peers, every SA and every pair's IPsec state stay as they are; the next
      // resync reads again.
      o.health.failed(err as Error);
      return { phase: undefined };
    }
    o.health.reached();
    const [net, nodes, subnets] = read;
    if (!net || stopped()) return { phase: undefined };
    // The peers' reports are read only by a pass that works, never by an idle one, and only while
    // some pair waits on one (a pair in its end state, or first seen, is planned without): each
    // names every pair of its node, so listing them all is O(nodes²) — at 50 nodes at rest most
    // of an agent's CPU, and while a mesh comes up every child install made the next pass list them.
    let reports: Entry<DataplaneDoc>[] = [];
    if (this.mode.readsReports()) {
      try {
        reports = await o.store.list('dataplane', this.skipBad);
      } catch (err) {
        o.health.failed(err as Error);
        return { phase: undefined };
      }
    }
    if (stopped()) return { phase: undefined };
    this.revisions = '';
    this.holdingsMoved = false;
    const d = desiredState(o.self, net.value, nodes.map((n) => n.value), subnets.map((s) => s.value));
    this.desired = d;
    if (!d.local) return { phase: 'waiting-subnet' };
    const wanted: WantedMode = d.ipsec ? 'Full' : 'Disabled';
    if (d.ipsec || this.dataPlane?.stack) await this.reloadCredentials();
    if (!(await this.ensureDataPlane(d))) return { phase: undefined };
    const dp = this.dataPlane!;
    const peersHash = contentHash(d.peers);
    if (peersHash !== this.peersHash) {
      dp.overlay.engine.setPeers(d.peers);
      this.tunnels = dp.overlay.engine.status().tunnels.map((t) => t.name);
      this.peersHash = peersHash;
      o.log.info({ peers: d.peers.map((p) => `${p.node}=${p.underlay} ${p.subnet} ${tunnelName(p.systemId)}`), waiting: d.waiting }, 'overlay peers');
    }
    // Pair states, then at once (no await between) the paths they give: a new peer is never
    // looked at without its pair's state.
    const byNode = new Map(reports.map((r) => [r.key, r.value]));
    const step = this.mode.step(wanted, d.peers, (p) => holdingOf(dp.stack, tunnelName(p.systemId)), byNode, o.self.node, o.now());
    dp.applyPairs(this.mode.paths());
    if (step.changed) o.log.info({ wanted, phase: this.mode.phase(), pairs: Object.fromEntries(this.mode.states()) }, 'IPsec pair states');
    if (this.mode.needsStack() && !dp.stack && o.auth.hasCredentials) await this.startStack(dp);
    if (dp.stack) {
      const peerCerts = new Map(nodes.map((n) => [n.value.name, n.value.cert_serial]));
      const withSas = d.peers.filter((p) => this.mode.needsSas(p.node));
      o.peers.setDesired(this.connections.build(withSas, d.genevePort, peerCerts));
      if (!this.mode.needsStack()) await this.stopStack(dp);
    }
    await this.publish(dp);
    this.revisions = revisions;
    return { phase: 'running', ...(step.recheckInMs === undefined ? {} : { recheckInMs: step.recheckInMs }) };
  }

  /**
   * Whether the store answers, from one small read (the network document): what the periodic
   * probe asks between full passes. Returns true when it answers again after failing — the node
   * then needs a full pass (static stability: re-list, keep what matches).
   */
  async probe(): Promise<boolean> {
    const h = this.o.health;
    const wasDown = !h.reachable;
    try {
      await this.o.store.get('network', NETWORK_KEY);
    } catch (err) {
      h.failed(err as Error);
      return false;
    }
    h.reached();
    return wasDown;
  }

  private async reloadCredentials(): Promise<void> {
    const { reauthenticate } = await this.o.creds.reload(this.o.credPaths);
    // Re-authenticate make-before-break (strongSwan's make_before_break): new IKE SAs with the
    // new credentials come up next to the old ones, which carry traffic until then. Only the
    // initiator of a pair does it; the peer's initiator does it for us when it sees our new serial.
    if (reauthenticate && this.dataPlane?.stack) this.o.peers.credentialsChanged();
  }

  /** Writes dataplane/<node> when what it says changed (not for the time alone). */
  private async publish(dp: DataPlane): Promise<void> {
    const stack = dp.stack;
    const peers = new Map((this.desired?.peers ?? []).map((p) => [p.node, tunnelName(p.systemId)]));
    const doc = this.mode.report(this.o.self.node, (n) => holdingOf(stack, peers.get(n) ?? '').spisIn, this.o.now());
    const key = contentHash({ ...doc, updated_at: '' });
    if (key === this.reportHash) return;
    try {
      await this.o.store.put('dataplane', this.o.self.node, doc);
      this.reportHash = key;
    } catch (err) {
      // Written again on the next sync; a peer waiting for it waits (no step needs it to be quick).
      this.o.health.failed(err as Error);
    }
  }

  /** A peer's report changed: it matters while some pair is switching. */
  reportMatters(): boolean {
    return this.mode.switching();
  }

  /** IPsec turned on (or a node started in Full): the stack, and the peer syncs onto its engine. */
  private async startStack(dp: DataPlane): Promise<void> {
    const unknownSpi = new UnknownSpiTrigger({ now: this.o.now });
    // Counted from the first packet on, so its counts add up to the data path's unknown_spi.
    this.o.peers.attach(undefined, unknownSpi);
    const stack = await dp.startIpsec();
    this.unknownSpi = unknownSpi;
    this.o.peers.attach(stackPort(stack, this.o.auth), unknownSpi);
    this.o.log.info({ address: stack.address }, 'IPsec stack up (UDP 500/4500)');
  }

  /** Every pair is plain with IPsec off: the stack goes (its connections were removed pair by pair). */
  private async stopStack(dp: DataPlane): Promise<void> {
    this.o.peers.attach(undefined);
    await dp.stopIpsec();
    this.unknownSpi = undefined;
    this.o.log.info({}, 'IPsec stack stopped: every pair is plain');
  }

  /** The data plane: rebuilt only when what it is made of changes (first start, subnet, MTU), never for the IPsec mode. Returns whether one runs. */
  private async ensureDataPlane(d: DesiredState): Promise<boolean> {
    const o = this.o;
    const overlayCfg = this.overlayConfig(d);
    const dpHash = contentHash({ local: overlayCfg.local, mtu: overlayCfg.mtu, underlayMtu: overlayCfg.underlayMtu, routes: overlayCfg.routes, port: overlayCfg.port });
    if (dpHash === this.dataPlaneHash) return true;
    if (this.dataPlane) {
      o.log.info({}, 'data plane changes; rebuilding it');
      o.peers.attach(undefined);
      await this.dataPlane.stop();
      this.dataPlane = undefined;
      this.peersHash = '';
      this.tunnels = [];
      this.revisions = '';
      this.mode = new ModeSwitch(this.o.drainMs ?? DRAIN_MS);
    }
    // A node that starts in Full waits for its credentials: it never sends in clear.
    if (d.ipsec && !o.auth.hasCredentials) return false;
    const dp = await DataPlane.start({
      overlay: overlayCfg,
      auth: o.auth,
      now: o.now,
      log: o.log,
      onStackEvent: (e) => this.onStackEvent(e),
      ...(o.openTun ? { openTun: o.openTun } : {}),
      ...(o.keylogDir ? { keylogDir: o.keylogDir } : {}),
      onUnknownSpi: (_spi, from) => o.peers.onUnknownSpi(from.address),
    });
    this.dataPlane = dp;
    this.dataPlaneHash = dpHash;
    o.log.info({ tun: overlayCfg.tunName, subnet: d.local!.subnet, vni: d.local!.vni, ipsec: d.mode, mtu: overlayCfg.mtu, underlayMtu: overlayCfg.underlayMtu }, 'data plane up');
    return true;
  }

  /**
   * What the IPsec stack reports. Readiness follows child installs and IKE SAs going down at
   * once; a child install may end a re-authentication, and an IKE SA that went down is looked at
   * again: both ask for their peer's sync now. (An initiation of ours that failed is then retried
   * under the peer's back-off, not at the next periodic resync.)
   */
  private onStackEvent(e: IpsecStackEvent): void {
    switch (e.type) {
      case 'ike-log':
        this.o.onIkeLog(e.line);
        break;
      case 'child-installed': {
        const conn = e.spec.name.split('/')[0]!;
        queueMicrotask(() => this.o.onStateChange());
        this.o.peers.childInstalled(conn);
        // The pair may be able to move to ESP now; a peer may be waiting for our report of it.
        this.holdingsMoved = true;
        if (this.mode.switching()) this.o.kick();
        if (e.spec.replacesSpiIn !== undefined) this.rekeys.set(conn, (this.rekeys.get(conn) ?? 0) + 1);
        break;
      }
      case 'child-down':
        this.holdingsMoved = true;
        queueMicrotask(() => this.o.onStateChange());
        break;
      case 'ike-up':
        queueMicrotask(() => this.o.onStateChange());
        break;
      case 'ike-down':
        queueMicrotask(() => this.o.onStateChange());
        this.o.peers.ikeDown(e.name);
        break;
      default:
        break;
    }
  }

  private overlayConfig(d: DesiredState): NodeOverlayConfig {
    // Room for ESP in either mode, so that switching never changes the pod MTU (or rebuilds the TUN).
    const underlayMtu = this.o.underlayMtu - ESP_UDP_OVERHEAD;
    return {
      local: d.local!,
      peers: [],
      tunName: this.o.tunName ?? 'ovn-k8s-tun0',
      mtu: Math.min(d.mtu, underlayMtu - ENCAP_OVERHEAD),
      underlayMtu,
      routes: d.clusterNetworks.map((dst) => ({ dst, src: d.gateway! })),
      port: d.genevePort,
      senders: 8,
    };
  }

  /** What the status views are made of (undefined: no data plane yet). */
  snapshot(): AgentSnapshot | undefined {
    const dp = this.dataPlane;
    if (!dp) return undefined;
    const { self, credPaths: p } = this.o;
    const stack = dp.stack;
    const c = stack?.counters();
    return {
      node: self.node,
      systemId: self.systemId,
      underlay: self.underlay,
      ipsec: !!stack,
      overlay: dp.overlay.engine.status(),
      ...(stack ? { ike: stack.engine.status(), esp: stack.esp.status() } : {}),
      creds: { cert: p.certPath, key: p.keyPath, ca: p.caPath },
      udp: { keepalives: c?.keepalives ?? 0, ike_datagrams: c?.ike_datagrams ?? 0, malformed: c?.malformed ?? 0, send_drops: c?.send_drops ?? 0, ...(c ? { send_refusals: c.send_refusals } : {}) },
      tun: { name: dp.overlay.tun.name, write_errors: dp.overlay.overlay.tunWriteFailures },
      ...(stack && this.unknownSpi ? { unknownSpi: this.unknownSpi.counters } : {}),
      mode: { wanted: this.mode.wanted, phase: this.mode.phase(), pairs: Object.fromEntries(this.mode.states()) },
    };
  }

  /** What the state file's readiness is made of (undefined: no data plane yet); see readiness.ts. */
  readiness(): Readiness | undefined {
    const dp = this.dataPlane;
    if (!dp) return undefined;
    const stack = dp.stack;
    if (!stack) return { ipsec: false, tunnels: this.tunnels.length, established: 0, ikeSas: 0, childSas: 0, modePhase: this.mode.phase() };
    const sas = stack.engine.sas();
    return { ipsec: true, tunnels: this.tunnels.length, established: establishedTunnels(this.tunnels, sas), ...saCounts(sas), modePhase: this.mode.phase() };
  }

  /** The IKE engine and its send step, for the control socket's commands (undefined: IPsec off, or no data plane yet). */
  ike(): IkeCommands | undefined {
    const stack = this.dataPlane?.stack;
    return stack && { engine: stack.engine, pump: () => stack.flush() };
  }

  /** A child's name by its serial (the libreswan log names children); undefined for an IKE SA's serial. */
  childNameOf(serial: number): string | undefined {
    return this.dataPlane?.stack?.engine.childName(serial);
  }

  async stop(): Promise<void> {
    this.o.peers.attach(undefined);
    await this.dataPlane?.stop();
    this.dataPlane = undefined;
  }
}

/** The executor's port onto the node's IPsec stack: its engine, with the stack's children and flush around it. */
function stackPort(stack: IpsecStack, auth: AgentAuth): ConnectionPort {
  return enginePort(stack.engine, auth, { removeChildren: (name) => stack.removeChildren(name), flush: () => stack.flush() });
}
