import { tunnelName } from '../overlay/tunnel-name.js';
import { connectionFor, initiates, type ConnectionTimers } from './connections.js';
import type { PeerSpec } from '../overlay/peer-table.js';
import { contentHash, type AgentSelf } from './desired.js';
import type { DesiredConnection } from './plan.js';

/** The IKE connection each peer of the desired state should have, with what the planner needs to know of the peer. */
export function desiredConnections(self: AgentSelf, peers: readonly PeerSpec[], genevePort: number, timers: ConnectionTimers, peerCerts: ReadonlyMap<string, string | undefined>): DesiredConnection[] {
  return peers.map((peer) => {
    const config = connectionFor(self, peer, genevePort, timers);
    return {
      name: tunnelName(peer.systemId),
      config,
      hash: contentHash(config),
      peerNode: peer.node,
      peerSystemId: peer.systemId,
      peerAddress: peer.underlay,
      initiator: initiates(self, peer),
      peerCert: peerCerts.get(peer.node),
    };
  });
}
