/**
 * Orders strings by UTF-16 code unit, as `<` does. Names here (nodes, tunnels, connections) are
 * ASCII, where this is the order a reader expects; `localeCompare` would give much the same
 * order through ICU's collation, whose data a long-lived daemon then keeps paged in (~2.6 MB of
 * every agent's RSS, measured).
 */
export function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
