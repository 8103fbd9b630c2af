/**
 * Node agents' connection planning on simulated IKE engines (test helper, not a test): each node
 * has a real engine in an ike-sim network, real certificate authentication (AgentAuth) and the
 * agent's own PeerConnections, planner and executor; only the store, the data path and the work
 * queue are left out — every connection is synced every `stepMs`, more often than the agent
 * does, which also shows the plans are idempotent.
 */
import { X509Certificate } from 'node:crypto';
import { Sim, type Node } from './ike-sim.js';
import type { CertFiles, TestPki } from '../helpers/certs.js';
import { AgentAuth } from '../../src/agent/auth.js';
import { DEFAULT_TIMERS } from '../../src/agent/connections.js';
import { desiredConnections } from '../../src/agent/desired-connections.js';
import { enginePort } from '../../src/agent/engine-port.js';
import type { ConnectionPort } from '../../src/agent/executor.js';
import type { AgentSelf } from '../../src/agent/desired.js';
import { DEFAULT_PLAN_TIMING, type ObservedSa } from '../../src/agent/plan.js';
import { PeerConnections } from '../../src/agent/peer-controller.js';
import { UnknownSpiTrigger } from '../../src/agent/unknown-spi.js';
import type { SyncResult } from '../../src/util/work-queue.js';
import { silentLogger } from '../../src/util/log.js';

export interface SimAgent {
  self: AgentSelf;
  node: Node;
  auth: AgentAuth;
  peers: PeerConnections;
  port: ConnectionPort;
  trigger: UnknownSpiTrigger;
  /** Whether the agent runs its syncs (a stopped agent's engine still answers). */
  running: boolean;
  cert: CertFiles;
  /** The engine calls the executor made: `initiate <conn>` and the like. */
  calls: string[];
  outcomes: Map<string, SyncResult['outcome'][]>;
}

export class AgentSim {
  readonly sim = new Sim();
  readonly agents = new Map<string, SimAgent>();
  stepMs = 250;
  genevePort = 6081;

  constructor(readonly pki: TestPki, readonly ca: CertFiles) {}

  issue(self: AgentSelf): CertFiles {
    return this.pki.issue(this.ca, `${self.node}-${Math.round(this.sim.now)}`, { dn: `C=US, O=ovnkubernetes, OU=kind, CN=${self.systemId}`, sans: [self.systemId], keyType: 'rsa' });
  }

  /** A node (new, or rebooted: a fresh engine and agent at the same address). */
  add(self: AgentSelf, cert = this.issue(self)): SimAgent {
    const auth = new AgentAuth(() => Date.now());
    auth.setCredentials({ certPem: cert.certPem, keyPem: cert.keyPem, caPem: this.ca.certPem, systemId: self.systemId });
    const node = this.sim.add(self.node, self.underlay, [], auth);
    const calls: string[] = [];
    const inner = enginePort(node.engine, auth, { flush: () => this.sim.flush() });
    const port: ConnectionPort = {
      ...inner,
      addConnection: (c) => (calls.push(`add ${c.name}`), inner.addConnection(c)),
      removeConnection: (n) => (calls.push(`remove ${n}`), inner.removeConnection(n)),
      initiate: (n) => (calls.push(`initiate ${n}`), inner.initiate(n)),
      deleteIkeSa: (s) => (calls.push(`delete-ike-sa ${s}`), inner.deleteIkeSa(s)),
      deleteChildSa: (s) => (calls.push(`delete-child ${s}`), inner.deleteChildSa(s)),
      createChild: (n, c) => (calls.push(`create-child ${c}`), inner.createChild(n, c)),
    };
    const trigger = new UnknownSpiTrigger({ now: () => this.sim.now });
    const peers = new PeerConnections({ log: silentLogger(), now: () => this.sim.now, timing: DEFAULT_PLAN_TIMING, queue: { add: () => {}, forget: () => {} } });
    peers.attach(port, trigger);
    const a: SimAgent = { self, node, auth, peers, port, trigger, running: true, cert, calls, outcomes: new Map() };
    this.agents.set(self.node, a);
    return a;
  }

  /** Our certificate changed: new credentials loaded and the initiators told (as the agent's reload does). */
  rotate(a: SimAgent): void {
    a.cert = this.issue(a.self);
    a.auth.setCredentials({ certPem: a.cert.certPem, keyPem: a.cert.keyPem, caPem: this.ca.certPem, systemId: a.self.systemId });
    a.peers.credentialsChanged();
  }

  /** What each agent's store says: every other node in `members` is a peer (with its certificate serial). */
  desire(members = [...this.agents.keys()]): void {
    const selves = members.map((m) => this.agents.get(m)!);
    const certs = new Map(selves.map((s) => [s.self.node, new X509Certificate(s.cert.certPem).serialNumber]));
    for (const a of this.agents.values()) {
      if (!members.includes(a.self.node)) {
        a.peers.setDesired([]);
        continue;
      }
      const peers = selves.filter((s) => s !== a).map((s, i) => ({ ...s.self, subnet: `10.244.${i}.0/24`, vni: 1 }));
      a.peers.setDesired(desiredConnections(a.self, peers, this.genevePort, DEFAULT_TIMERS, certs));
    }
  }

  /** Syncs every connection of every running agent. */
  syncAll(): void {
    for (const a of this.agents.values()) {
      if (!a.running) continue;
      for (const name of a.peers.keys()) {
        const r = a.peers.sync(name);
        a.outcomes.set(name, [...(a.outcomes.get(name) ?? []), r.outcome]);
      }
    }
    this.sim.flush();
  }

  /** Runs `ms` of simulated time, syncing every `stepMs`; `each` after every step. */
  run(ms: number, each?: () => void): void {
    const end = this.sim.now + ms;
    while (this.sim.now < end) {
      this.syncAll();
      this.sim.run(Math.min(end, this.sim.now + this.stepMs));
      each?.();
    }
  }

  observe(a: SimAgent, conn: string): ObservedSa[] {
    return a.port.observe(conn);
  }
}
