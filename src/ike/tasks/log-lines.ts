import type { EngineContext } from '../context.js';
import { proposalName } from '../proposals.js';
import type { ChildSa } from '../sa/child-sa.js';
import type { IkeSa } from '../sa/ike-sa.js';
import { formatTsLibreswan } from '../../wire/traffic-selector.js';

const hex8 = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

/** The libreswan lines for a new child: `negotiated connection [...]` and `IPsec SA established ...`. */
export function logChildUp(ctx: EngineContext, sa: IkeSa, child: ChildSa): void {
  const l = child.localTs.map(formatTsLibreswan).join(' ');
  const r = child.remoteTs.map(formatTsLibreswan).join(' ');
  ctx.log(sa, `negotiated connection [${l}] -> [${r}]`, child);
  const esp = sa.natT ? 'ESPinUDP' : 'ESP';
  const natd = sa.natT ? `${sa.remote.address}:${sa.remote.port}` : 'none';
  const dpd = (sa.conn.config.dpdDelayMs ?? 0) > 0 ? 'active' : 'passive';
  ctx.log(sa, `IPsec SA established ${child.mode} mode {${esp}=>${hex8(child.spiOut)} <${hex8(child.spiIn)} xfrm=${proposalName(child.chosen)} NATOA=none NATD=${natd} DPD=${dpd}}`, child);
}
