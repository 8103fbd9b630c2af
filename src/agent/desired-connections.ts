import { tunnelName } from '../overlay/tunnel-name.js';
import { connectionFor, initiates, type ConnectionTimers } from './connections.js';
import type { PeerSpec } from '../overlay/peer-table.js';
import type { IkeConnectionConfig } from '../ike/config.js';
import { contentHash, type AgentSelf } from './desired.js';
import type { DesiredConnection } from './plan.js';

/** The IKE connection each peer of the desired state should have, with what the planner needs to know of the peer. */
export function desiredConnections(self: AgentSelf, peers: readonly PeerSpec[], genevePort: number, timers: ConnectionTimers, peerCerts: ReadonlyMap<string, string | undefined>): DesiredConnection[] {
  return peers.map((peer) => {
    const config = connectionFor(self, peer, genevePort, timers);
    return desiredConnection(self, peer, config, contentHash(config), peerCerts);
  });
}

function desiredConnection(self: AgentSelf, peer: PeerSpec, config: IkeConnectionConfig, hash: string, peerCerts: ReadonlyMap<string, string | undefined>): DesiredConnection {
  return {
    name: tunnelName(peer.systemId),
    config,
    hash,
    peerNode: peer.node,
    peerSystemId: peer.systemId,
    peerAddress: peer.underlay,
    initiator: initiates(self, peer),
    peerCert: peerCerts.get(peer.node),
  };
}

/**
 * desiredConnections for one node, with each peer's connection config and its content hash kept
 * from the last node sync while what they are made of (the peer, the Geneve port) is the same.
 * While nodes join, each one makes every agent's node sync run again over every peer, and building
 * and hashing a config per peer per pass was a tenth of those passes at 50 nodes — the cost grows
 * with nodes² per agent. The configs handed out are shared between passes (the engine keeps its
 * own resolved copy of a connection).
 */
export class DesiredConnectionCache {
  private byPeer = new Map<string, { key: string; config: IkeConnectionConfig; hash: string }>();

  constructor(private readonly self: AgentSelf, private readonly timers: ConnectionTimers) {}

  build(peers: readonly PeerSpec[], genevePort: number, peerCerts: ReadonlyMap<string, string | undefined>): DesiredConnection[] {
    const next = new Map<string, { key: string; config: IkeConnectionConfig; hash: string }>();
    const out = peers.map((peer) => {
      const key = JSON.stringify([peer, genevePort]);
      let e = this.byPeer.get(peer.node);
      if (!e || e.key !== key) {
        const config = connectionFor(this.self, peer, genevePort, this.timers);
        e = { key, config, hash: contentHash(config) };
      }
      next.set(peer.node, e);
      return desiredConnection(this.self, peer, e.config, e.hash, peerCerts);
    });
    // Peers gone are forgotten: the cache never holds more than the last pass's peers.
    this.byPeer = next;
    return out;
  }
}
