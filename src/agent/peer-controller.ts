import type { Logger } from '../util/log.js';
import type { SyncResult } from '../util/work-queue.js';
import { executePlan, type ConnectionPort } from './executor.js';
import type { ConnMemory, DesiredConnection, PlanTiming } from './plan.js';
import { planConnection } from './planner.js';
import type { UnknownSpiTrigger } from './unknown-spi.js';

/** How the controller asks for syncs: the agent's per-key work queue. */
export interface SyncRequests {
  add(name: string): void;
  /** The key's failure is over (news that the peer is there): no back-off for the next add. */
  forget(name: string): void;
}

export interface PeerConnectionsOptions {
  log: Logger;
  now: () => number;
  timing: PlanTiming;
  queue: SyncRequests;
}

/**
 * The agent's peer connections, one sync per peer: what the store wants (set by the node sync),
 * what the planner remembers, and the hints that arrive between syncs (an unknown SPI). A sync
 * observes the engine, plans, and executes the plan; the work queue that calls it backs off
 * per peer when the plan says an initiation failed.
 */
export class PeerConnections {
  private port: ConnectionPort | undefined;
  private trigger: UnknownSpiTrigger | undefined;
  private desired = new Map<string, DesiredConnection>();
  private readonly memory = new Map<string, ConnMemory>();
  /** Peer underlay address → connection name, for ESP that arrives for an SPI we do not know. */
  private readonly byAddress = new Map<string, string>();
  private readonly unknownSpi = new Set<string>();
  /** Moves when our certificate changed or trust narrowed: the initiators re-authenticate. */
  private credsEpoch = 0;

  constructor(private readonly opts: PeerConnectionsOptions) {}

  /**
   * A new IKE engine (a rebuilt data plane; undefined: none), with the unknown-SPI trigger made
   * for its data path: nothing of the old one is remembered.
   */
  attach(port: ConnectionPort | undefined, trigger?: UnknownSpiTrigger): void {
    this.port = port;
    this.trigger = trigger;
    this.desired = new Map();
    this.memory.clear();
    this.byAddress.clear();
    this.unknownSpi.clear();
  }

  /**
   * What the store wants now; every peer whose wanted connection changed (added, removed, other)
   * gets a sync. The others have nothing new: syncing them all on every store event made a node
   * joining a 100-node cluster cost every agent 100 syncs.
   */
  setDesired(conns: DesiredConnection[]): void {
    const before = this.desired;
    this.desired = new Map(conns.map((c) => [c.name, c]));
    for (const name of new Set([...before.keys(), ...this.memory.keys(), ...this.desired.keys()])) {
      const changed = before.get(name)?.hash !== this.desired.get(name)?.hash;
      // A peer added, removed or changed in the store is new input, not a retry of what failed:
      // its back-off is dropped so that, e.g., a departed peer's half-open SA goes at once
      // (client-go's Add from an event handler is not rate-limited either).
      if (changed) this.opts.queue.forget(name);
      if (changed || !this.memory.has(name) !== !this.desired.has(name)) this.opts.queue.add(name);
    }
  }

  /** Our credentials changed so that the peers must see new ones: every pair's initiator re-authenticates. */
  credentialsChanged(): void {
    this.credsEpoch++;
    for (const name of this.memory.keys()) this.opts.queue.add(name);
  }

  /** Every connection gets a look (the periodic resync). */
  resyncAll(): void {
    for (const name of this.keys()) this.opts.queue.add(name);
  }

  /** The connections configured or wanted: the keys a sync may have work for. */
  keys(): string[] {
    return [...new Set([...this.memory.keys(), ...this.desired.keys()])];
  }

  /** A child of `name` was installed: the connection may be complete now (a re-authentication's end). */
  childInstalled(name: string): void {
    if (this.memory.has(name)) {
      this.opts.queue.forget(name);
      this.opts.queue.add(name);
    }
  }

  /** An IKE SA of `name` went down: one that had been up is set up again now, a failed initiation after its back-off. */
  ikeDown(name: string): void {
    if (this.memory.has(name)) this.opts.queue.add(name);
  }

  /**
   * ESP for an SPI we do not know from `address`. When it comes from a peer we hold no IKE SA
   * with, the peer still has SAs we lost (we restarted): its connection gets a sync that
   * initiates now rather than after the responder's grace period. Bounded and counted by the
   * trigger (anyone can send such packets).
   */
  onUnknownSpi(address: string): void {
    const name = this.byAddress.get(address);
    const port = this.port;
    const trigger = this.trigger;
    if (!trigger) return;
    if (name === undefined || !port || !this.memory.has(name)) {
      trigger.onPacket(undefined);
      return;
    }
    trigger.onPacket({
      name,
      hasLiveIkeSa: () => port.hasLiveIkeSa(name),
      initiate: () => {
        this.unknownSpi.add(name);
        this.opts.queue.forget(name);
        this.opts.queue.add(name);
      },
    });
  }

  has(name: string): boolean {
    return this.memory.has(name);
  }

  /** The connections configured in the engine. */
  names(): string[] {
    return [...this.memory.keys()];
  }

  /** One peer's sync: observe, plan, execute. */
  sync(name: string): SyncResult {
    const port = this.port;
    if (!port) return { outcome: 'ok' };
    const desired = this.desired.get(name);
    const memory = this.memory.get(name);
    const plan = planConnection({
      name, desired, memory,
      observed: memory ? port.observe(name) : [],
      credsEpoch: this.credsEpoch,
      unknownSpi: this.unknownSpi.delete(name),
      now: this.opts.now(),
      timing: this.opts.timing,
    });
    if (plan.memory) this.memory.set(name, plan.memory);
    else this.memory.delete(name);
    for (const a of plan.actions) {
      if (a.kind === 'add-connection') this.byAddress.set(a.conn.peerAddress, name);
      if (a.kind !== 'remove-connection') continue;
      for (const [addr, n] of this.byAddress) if (n === name) this.byAddress.delete(addr);
      this.trigger?.forget(name);
    }
    executePlan(port, plan.actions, this.opts.log);
    return { outcome: plan.outcome, ...(plan.recheckInMs === undefined ? {} : { recheckInMs: plan.recheckInMs }) };
  }
}
