import type { IkeEngine } from '../ike/engine.js';
import type { IkeSaState } from '../ike/index.js';
import type { AgentAuth } from './auth.js';
import type { ConnectionPort } from './executor.js';
import type { ObservedSa, ObservedSaState } from './plan.js';

/** What goes with an engine in a node's IPsec stack: the ESP data path's children and the send step. */
export interface StackHooks {
  /** Removes the connection's children from the ESP data path (none: nothing to remove). */
  removeChildren?(name: string): void;
  /** Runs the engine's outputs (sends, installs); the driver's pump. */
  flush(): void;
}

/** The engine's IKE SA states as the planner sees them: an IKE rekey in flight leaves the SA in use. */
const SA_STATE: Record<IkeSaState, ObservedSaState> = {
  'init-sent': 'connecting',
  authenticating: 'connecting',
  established: 'established',
  rekeying: 'established',
  rekeyed: 'rekeyed',
  deleting: 'deleting',
};

/** The connection's IKE SAs as the planner sees them (the engine's typed query, oldest first). */
export function observeSas(engine: IkeEngine, name: string): ObservedSa[] {
  return engine.sas(name).map((s) => ({
    serial: s.serial,
    state: SA_STATE[s.state],
    children: s.children.map((c) => ({ name: c.name, serial: c.serial, spiIn: c.spiIn, state: c.state, answered: c.answered })),
  }));
}

/** The executor's port onto one IKE engine, the agent's peer identities and the stack around them. */
export function enginePort(engine: IkeEngine, auth: Pick<AgentAuth, 'setPeer' | 'removePeer'>, hooks: StackHooks): ConnectionPort {
  return {
    addConnection(conn) {
      auth.setPeer(conn.name, conn.peerSystemId);
      engine.addConnection(conn.config);
    },
    removeConnection(name) {
      engine.removeConnection(name);
      auth.removePeer(name);
      hooks.removeChildren?.(name);
    },
    initiate: (name) => engine.initiate(name),
    deleteIkeSa: (serial) => void engine.deleteIkeSa(serial),
    deleteChildSa: (spiIn) => void engine.deleteChildSa(spiIn),
    createChild: (name, child) => void engine.createChild(name, child),
    hasLiveIkeSa: (name) => engine.hasLiveIkeSa(name),
    observe: (name) => observeSas(engine, name),
    flush: () => hooks.flush(),
  };
}
