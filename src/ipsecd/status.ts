import type { DataPathStatus } from '../esp/status.js';
import { newDropCounts } from '../esp/counters.js';
import type { IkeStatus } from '../ike/status.js';
import type { ChildSaJson, IkeSaJson, StatusJson } from '../host/status.js';
import type { ManualConnection } from './config.js';
import type { IkeConnection } from './ike-config.js';

/** ipsecd's `ipsec status`: manual connections (state MANUAL), then the IKE SAs. */

export function buildStatus(
  conns: readonly ManualConnection[],
  dp: DataPathStatus,
  udp: { keepalives: number; ike_datagrams: number; malformed: number },
  tun: { name: string; write_errors: number },
  uptimeS: number,
  listen: string[] = [],
  ikeSas: IkeSaJson[] = [],
  ikeCounters?: Record<string, number>,
): StatusJson {
  const ike_sas = conns.map((c, i): IkeSaJson => {
    const child = dp.children.find((ch) => ch.name === c.name);
    const children: ChildSaJson[] = (child?.sas ?? []).map((sa) => ({
      name: c.name,
      state: sa.state === 'installed' ? 'INSTALLED' : sa.state === 'rekey-due' ? 'REKEY_DUE' : 'EXPIRED',
      mode: c.mode,
      spi_in: sa.spi_in,
      spi_out: sa.spi_out,
      proposal: sa.proposal,
      local_ts: c.localTsText,
      remote_ts: c.remoteTsText,
      bytes_in: sa.bytes_in,
      bytes_out: sa.bytes_out,
      packets_in: sa.packets_in,
      packets_out: sa.packets_out,
      rekey_in_s: sa.rekey_in_s,
      serial: i + 1,
      drops: sa.drops,
    }));
    return {
      name: c.name, state: 'MANUAL', local: c.localAddr, remote: c.remoteAddr,
      local_id: null, remote_id: null, spi_i: null, spi_r: null, proposal: null,
      established_s: uptimeS, rekey_in_s: null, children,
    };
  });
  // Junk on port 4500 that never reached the data path is malformed input all the same.
  const drops = { ...dp.drops, malformed: dp.drops.malformed + udp.malformed };
  return { ike_sas: [...ike_sas, ...ikeSas], drops, outbound_drops: dp.outbound_drops, udp, tun, listen, ...(ikeCounters ? { ike: ikeCounters } : {}) };
}

const IKE_STATE: Record<string, string> = {
  'init-sent': 'CONNECTING', 'half-open': 'CONNECTING', 'auth-sent': 'CONNECTING',
  established: 'ESTABLISHED', rekeyed: 'REKEYED', deleting: 'DELETING', dead: 'DESTROYING',
};

/** The IKE engine's SAs with the data path's traffic counters, in the CONTRACTS.md shape. */
export function ikeSasJson(conns: readonly IkeConnection[], ike: IkeStatus, dp: DataPathStatus): IkeSaJson[] {
  return ike.ike_sas.filter((s) => s.state !== 'dead').map((s): IkeSaJson => {
    const route = conns.find((c) => c.name === s.name);
    const children = s.children.map((ch): ChildSaJson => {
      // Both sides print SPIs as 8 hex digits: joined on that text, never parsed back.
      const dpSa = dp.children.find((c) => c.name === `${s.name}/${ch.name}`)?.sas.find((x) => x.spi_in === `0x${ch.spi_in}`);
      const r = route?.children.find((c) => c.child === ch.name);
      return {
        name: ch.name, state: ch.state.toUpperCase().replace(/-/g, '_'), mode: ch.mode,
        spi_in: `0x${ch.spi_in}`, spi_out: `0x${ch.spi_out}`, proposal: ch.proposal,
        local_ts: ch.local_ts.length ? ch.local_ts : r?.localTsText ?? [], remote_ts: ch.remote_ts.length ? ch.remote_ts : r?.remoteTsText ?? [],
        bytes_in: dpSa?.bytes_in ?? 0, bytes_out: dpSa?.bytes_out ?? 0, packets_in: dpSa?.packets_in ?? 0, packets_out: dpSa?.packets_out ?? 0,
        rekey_in_s: ch.rekey_in_s, serial: ch.serial,
        drops: dpSa?.drops ?? newDropCounts(),
      };
    });
    const [local, localPort] = splitEndpoint(s.local);
    const [remote, remotePort] = splitEndpoint(s.remote);
    return {
      name: s.name, state: IKE_STATE[s.state] ?? s.state.toUpperCase(), local, remote,
      local_id: s.local_id, remote_id: s.remote_id, spi_i: s.spi_i, spi_r: s.spi_r, proposal: s.proposal,
      established_s: s.established_s, rekey_in_s: s.rekey_in_s, children,
      serial: s.serial, libreswan_state: s.libreswan_state, local_port: localPort, remote_port: remotePort,
    };
  });
}

function splitEndpoint(s: string): [string, number] {
  const i = s.lastIndexOf(':');
  return [s.slice(0, i), Number(s.slice(i + 1))];
}
