/**
 * Parsing never throws on bad input: it returns a typed failure. `notify` names the error notify an
 * answer would carry (INVALID_SYNTAX, UNSUPPORTED_CRITICAL_PAYLOAD, ...) when one is due; the
 * `cause` is what the drop counters and logs use.
 */
export type ParseCause =
  | 'truncated'
  | 'bad-length'
  | 'bad-version'
  | 'bad-value'
  | 'unsupported-critical'
  | 'decrypt-failed'
  | 'bad-padding'
  | 'not-ike';

export interface ParseError {
  cause: ParseCause;
  detail: string;
  /** The error notify to send back when this is a request we answer (§2.21). */
  notify?: number;
  /** For unsupported-critical: the payload type to put in the notify data. */
  payloadType?: number;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: ParseError };

export function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

export function fail<T = never>(cause: ParseCause, detail: string, extra: Partial<ParseError> = {}): Parsed<T> {
  return { ok: false, error: { cause, detail, ...extra } };
}
