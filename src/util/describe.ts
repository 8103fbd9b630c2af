/** A value from a config file, as a problem sentence names it: `"text"`, `a list`, `number 16`. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return quoteShort(v);
  return `${typeof v} ${String(v)}`;
}

/** A string from a config, quoted for a message and cut short: a wrong file can be one long scalar. */
export function quoteShort(text: string, max = 60): string {
  return text.length > max ? `"${text.slice(0, max)}…" (${text.length} characters)` : `"${text}"`;
}
