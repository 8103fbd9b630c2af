import { isConnCommand, parseConnCommand, parseRequestLine } from '../host/control-protocol.js';

/**
 * The agent's control-socket requests (newline-delimited JSON, like ipsecd's):
 *   {"cmd":"status"}          → {"ok":true,"status":<ipsec status JSON>,"text":"<libreswan lines>"}
 *   {"cmd":"tunnels/show"}    → {"ok":true,"tunnels":[…],"text":"<the seed's tunnels/show>"}
 *   {"cmd":"ipsec/status"}    → {"ok":true,"status":{tunnel:{conn:line}},"text":"<python dict>"}
 *   {"cmd":"agent/state"}     → {"ok":true,"state":{…,"ready":bool}}
 *   {"cmd":"initiate"|"rekey"|"terminate","conn":"ovn-xxxxxx-0","child"?:"…"}
 *   {"cmd":"clock/offset","offset":"4.5y"} → moves the certificate clock (test hook, only when
 *                                              the agent was started with OI_CLOCK_OFFSET)
 */
export type AgentRequest =
  | { cmd: 'status' | 'tunnels/show' | 'ipsec/status' | 'agent/state' }
  | { cmd: 'initiate' | 'rekey' | 'terminate'; conn: string; child?: string }
  | { cmd: 'clock/offset'; offset: string };

const SIMPLE = new Set(['status', 'tunnels/show', 'ipsec/status', 'agent/state']);

export function parseAgentRequest(line: string): AgentRequest | string {
  const r = parseRequestLine(line);
  if (typeof r === 'string') return r;
  if (SIMPLE.has(r.cmd)) return { cmd: r.cmd as 'status' };
  if (isConnCommand(r.cmd)) return parseConnCommand(r.cmd, r.body) as AgentRequest | string;
  if (r.cmd === 'clock/offset') {
    const offset = r.body.offset;
    if (typeof offset !== 'string') return 'clock/offset needs an "offset" string (e.g. "4.5y")';
    return { cmd: 'clock/offset', offset };
  }
  return `unknown command "${r.cmd}" (status, tunnels/show, ipsec/status, agent/state, initiate, rekey, terminate, clock/offset)`;
}

export const AGENT_SOCKET = 'agent.sock';
export const AGENT_STATE_FILE = 'agent.json';
export const LIBRESWAN_LOG = 'libreswan.log';
