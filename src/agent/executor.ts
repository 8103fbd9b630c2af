import type { Logger } from '../util/log.js';
import type { DesiredConnection, ObservedSa, PlanAction } from './plan.js';

/**
 * What the executor drives: the IKE engine of the node's IPsec stack and what goes with a
 * connection (the peer's expected identity, its children in the ESP data path). The agent's one
 * implementation is `enginePort` (engine-port.ts); the tests drive simulated engines through it.
 */
export interface ConnectionPort {
  /** Configures the connection (and the identity its peer must prove). */
  addConnection(conn: DesiredConnection): void;
  /** Deletes the connection's SAs (DELETE sent), its config, and its children in the data path. */
  removeConnection(name: string): void;
  initiate(name: string): void;
  deleteIkeSa(serial: number): void;
  deleteChildSa(spiIn: number): void;
  createChild(name: string, child: string): void;
  /** Whether an IKE SA of the connection is up or on its way (deleting ones do not count). */
  hasLiveIkeSa(name: string): boolean;
  /** The connection's IKE SAs as the planner sees them. */
  observe(name: string): ObservedSa[];
  /** Lets the engine send what the actions produced. */
  flush(): void;
}

/**
 * Applies a plan's actions in order, with one log line for each that changes something the
 * operator sees (the same lines the agent has always written), then lets the engine send.
 */
export function executePlan(port: ConnectionPort, actions: PlanAction[], log: Logger): void {
  const reauthDeleted = new Map<string, number[]>();
  for (const a of actions) {
    switch (a.kind) {
      case 'remove-connection':
        port.removeConnection(a.name);
        log.info({ conn: a.name, peer: a.peerNode }, a.replaced ? 'peer changed; connection replaced' : 'peer left; connection removed');
        break;
      case 'add-connection':
        port.addConnection(a.conn);
        log.info({ conn: a.conn.name, peer: a.conn.peerNode, remote: a.conn.peerAddress, initiator: a.conn.initiator }, 'connection added');
        break;
      case 'initiate':
        if (a.reason === 'unknown-spi') {
          log.info({ conn: a.name, peer: a.peerAddress }, 'ESP for an unknown SPI from a peer we hold no IKE SA with: initiating (with INITIAL_CONTACT) now');
        }
        port.initiate(a.name);
        break;
      case 'reauthenticate':
        if (a.cause === 'retry') log.info({ conn: a.name }, 're-authentication made no IKE SA; trying again');
        else {
          if (a.cause === 'peer-certificate') log.info({ conn: a.name, peer_cert: a.peerCert }, 'the peer has a new certificate');
          log.info({ conn: a.name, replaces: a.replaces }, 're-authenticating (make-before-break)');
        }
        port.initiate(a.name);
        break;
      case 'delete-ike-sa':
        if (a.reason === 'duplicate') log.info({ conn: a.name, serial: a.serial, keep: a.keep }, 'deleting a duplicate IKE SA');
        else reauthDeleted.set(a.name, [...(reauthDeleted.get(a.name) ?? []), a.serial]);
        port.deleteIkeSa(a.serial);
        break;
      case 'delete-child':
        log.info({ conn: a.name, child: a.child, serial: a.serial }, 'deleting a duplicate child SA');
        port.deleteChildSa(a.spiIn);
        break;
      case 'create-child':
        port.createChild(a.name, a.child);
        break;
    }
  }
  for (const [conn, deleted] of reauthDeleted) log.info({ conn, deleted }, 're-authenticated; old IKE SAs deleted');
  if (actions.length > 0) port.flush();
}
