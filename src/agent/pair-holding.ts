import type { IpsecStack } from '../host/ipsec-stack.js';
import { inChildName, outChildName } from './connections.js';
import type { PairHolding } from './mode-switch.js';

/**
 * What the node's data path holds for one peer connection, as the pair planner needs it: the
 * outbound SPI of each of the connection's two children (the newest installed SA of each, the one
 * outbound traffic uses; undefined until both are installed) and every inbound SPI the ESP data
 * path has for it (what the node reports, so that the peer knows our end holds its SAs).
 */
export function holdingOf(stack: IpsecStack | undefined, conn: string): PairHolding {
  if (!stack || conn === '') return { spisOut: undefined, spisIn: [] };
  const newest = new Map<string, { serial: number; spiOut: number }>();
  const spisIn: number[] = [];
  for (const sa of stack.engine.sas(conn)) {
    for (const c of sa.children) {
      if (stack.esp.usage(c.spiIn) !== undefined) spisIn.push(c.spiIn);
      if (c.state !== 'installed' && c.state !== 'rekeying') continue;
      const n = newest.get(c.name);
      if (!n || c.serial > n.serial) newest.set(c.name, { serial: c.serial, spiOut: c.spiOut });
    }
  }
  const out = [inChildName(conn), outChildName(conn)].map((name) => newest.get(name)?.spiOut);
  return { spisOut: out.every((s) => s !== undefined) ? (out as number[]) : undefined, spisIn };
}
