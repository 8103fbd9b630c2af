/**
 * The node agent: `new Agent({ node, stateDir, log }).start()` / `.stop()`; its control-socket
 * requests (control.ts) and status shapes (status.ts).
 */
export { Agent, type AgentOptions, type AgentState, type AgentPhase } from './agent.js';
export { parseAgentRequest, AGENT_SOCKET, AGENT_STATE_FILE, LIBRESWAN_LOG, type AgentRequest } from './control.js';
export { connectionFor, initiates, inChildName, outChildName, IKE_PROPOSALS, ESP_PROPOSALS, type ConnectionTimers } from './connections.js';
export { desiredState, contentHash, type DesiredState, type AgentSelf } from './desired.js';
export { tunnelsShow, formatTunnelsShow, ipsecStatusDict, formatIpsecStatusDict, ipsecStatusJson, formatIpsecStatusText, type TunnelShow, type AgentSnapshot, type StatusJson } from './status.js';
export { DataPlane } from './dataplane.js';
