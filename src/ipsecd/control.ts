import { isConnCommand, parseConnCommand, parseRequestLine, type ControlRequest } from '../host/control-protocol.js';

/** ipsecd's control-socket requests: status, and initiate/rekey/terminate of a connection. */
export function parseRequest(line: string): ControlRequest | string {
  const r = parseRequestLine(line);
  if (typeof r === 'string') return r;
  if (r.cmd === 'status') return { cmd: 'status' };
  if (isConnCommand(r.cmd)) return parseConnCommand(r.cmd, r.body);
  return `unknown command "${r.cmd}" (status, initiate, rekey, terminate)`;
}
