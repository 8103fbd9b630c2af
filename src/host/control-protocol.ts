/**
 * The control socket's protocol: one JSON object per line each way. A request names a command;
 * the answer is {"ok":true,...} or {"ok":false,"error":"…"}.
 */
export type ControlRequest =
  | { cmd: 'status' }
  | { cmd: 'initiate' | 'rekey' | 'terminate'; conn: string; child?: string };

export type ControlResponse = { ok: true; [k: string]: unknown } | { ok: false; error: string };

/** Default socket path of `ipsec status` and friends when --control is not given. */
export const DEFAULT_CONTROL_SOCKET = '/run/overlay-ipsec/ipsecd.sock';

/** Longest request line accepted: a request is tiny, anything bigger is hostile or broken. */
export const MAX_REQUEST_BYTES = 64 * 1024;

/** A request line as a JSON object with a `cmd` string, or what is wrong with it. */
export function parseRequestLine(line: string): { cmd: string; body: Record<string, unknown> } | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return 'request is not JSON';
  }
  if (typeof v !== 'object' || v === null || typeof (v as { cmd?: unknown }).cmd !== 'string') return 'request needs a "cmd" string';
  return { cmd: (v as { cmd: string }).cmd, body: v as Record<string, unknown> };
}

/** The arguments of initiate, rekey and terminate (a connection, maybe one child), or what is wrong. */
export function parseConnCommand(cmd: 'initiate' | 'rekey' | 'terminate', body: Record<string, unknown>): ControlRequest | string {
  const { conn, child } = body;
  if (typeof conn !== 'string') return `${cmd} needs a "conn" string`;
  if (child !== undefined && typeof child !== 'string') return '"child" must be a string';
  return { cmd, conn, ...(child !== undefined ? { child } : {}) };
}

export function isConnCommand(cmd: string): cmd is 'initiate' | 'rekey' | 'terminate' {
  return cmd === 'initiate' || cmd === 'rekey' || cmd === 'terminate';
}
