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
