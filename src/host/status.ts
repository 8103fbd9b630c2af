import type { DropCounts, OutboundDropCounts } from '../esp/counters.js';
import type { ChildStatus } from '../ike/status.js';

/**
 * `ipsec status` in the CONTRACTS.md shape. A manual connection has no IKE SA; it is shown as an
 * "ike_sas" entry with state MANUAL and null IKE fields, so tools read one shape whatever keyed
 * the SAs. SPIs are "0x" + 8 hex digits, as in the config file.
 */

/** A child SA: the IKE engine's view of it (ike/status.ts) with the data path's counters. */
export interface ChildSaJson extends Omit<ChildStatus, 'answered'> {
  bytes_in: number;
  bytes_out: number;
  packets_in: number;
  packets_out: number;
  /** Extension: this SA's inbound refusals by cause (serial, libreswan's #N, is one too). */
  drops: DropCounts;
}

export interface IkeSaJson {
  name: string;
  state: string;
  local: string;
  remote: string;
  local_id: string | null;
  remote_id: string | null;
  spi_i: string | null;
  spi_r: string | null;
  proposal: string | null;
  established_s: number | null;
  rekey_in_s: number | null;
  children: ChildSaJson[];
  /** Extensions for IKE SAs: libreswan's serial and state name, and the IKE ports. */
  serial?: number;
  libreswan_state?: string;
  local_port?: number;
  remote_port?: number;
}

/**
 * Per UDP port (500, 4500): sends the kernel refused for now (send buffer full / no buffers below),
 * datagrams held and sent again, held now, dropped by cause (no room for IKE, for bulk, at close),
 * refused for good, and ICMP error reports received (native/send-backlog.ts).
 */
export type UdpSendRefusals = Record<string, { refused_full: number; refused_no_buffers: number; held: number; resent: number; held_now: number; dropped_ike: number; dropped_bulk: number; dropped_closed: number; errors: number; error_reports: number }>;

export interface StatusJson {
  ike_sas: IkeSaJson[];
  drops: DropCounts;
  /** Extensions: packets from the TUN not sent, by cause; UDP 4500 keepalives, IKE datagrams and junk seen; TUN write failures. */
  outbound_drops: OutboundDropCounts;
  /**
   * send_drops: datagrams lost on the way out of 500 and 4500; send_refusals: per port, the sends
   * the kernel refused for now and what became of them (agents report both).
   */
  udp: { keepalives: number; ike_datagrams: number; malformed: number; send_drops?: number; send_refusals?: UdpSendRefusals };
  tun: { name: string; write_errors: number };
  /** UDP sockets the daemon listens on, "<device> UDP <address>:<port>" as pluto lists them. */
  listen: string[];
  /** Extension: the IKE engine's counters (datagrams refused by cause, retransmits). */
  ike?: Record<string, number>;
  /** Extension (agents): what became of ESP refused as unknown_spi, by outcome (the agent's unknown-SPI trigger). */
  unknown_spi?: Record<string, number>;
  /** Extension (agents): the IPsec mode wanted, the node's phase and each peer pair's transition state. */
  mode?: { wanted: string; phase: string; pairs: Record<string, string> };
  /** Extension (agents): inbound underlay packets the overlay refused, by cause (cleartext_refused: plain Geneve from an encrypted pair). */
  overlay_drops?: Record<string, number>;
}

/** libreswan's proposal words: aes256gcm16 → AES_GCM_16_256. */
export function xfrmName(proposal: string): string {
  const m = /^aes(128|192|256)gcm16$/.exec(proposal);
  return m ? `AES_GCM_16_${m[1]}` : proposal.toUpperCase();
}

/** libreswan's byte counts: 0B, 950B, 8KB, 13MB, 2193MB (powers of 1000, truncated). */
export function humanBytes(n: number): string {
  if (n < 1000) return `${n}B`;
  if (n < 1_000_000) return `${Math.floor(n / 1000)}KB`;
  return `${Math.floor(n / 1_000_000)}MB`;
}

/** An SPI as pluto prints it after `esp.`: hex without "0x" and leading zeros. */
export function bareSpi(s: string): string {
  return s.replace(/^0x/, '').replace(/^0+(?=.)/, '');
}

/** The seed's `ipsec status` lines: a state line and a traffic line per child SA. */
export function formatStatusText(st: StatusJson): string {
  // pluto opens with its kernel interface and the sockets it listens on.
  const lines: string[] = [`000 using kernel interface: userspace ESP (TUN ${st.tun.name})`, '000'];
  for (const l of st.listen) lines.push(`000 interface ${l}`);
  if (st.listen.length) lines.push('000');
  for (const ike of st.ike_sas) {
    if (ike.state !== 'MANUAL') {
      // pluto's IKE SA line: `#N: "conn":500 STATE_V2_ESTABLISHED_IKE_SA (established IKE SA); EVENT_SA_REKEY in …s; newest ISAKMP;`
      const rekey = ike.rekey_in_s !== null ? `EVENT_SA_REKEY in ${ike.rekey_in_s}s; ` : '';
      lines.push(`000 #${ike.serial ?? 0}: "${ike.name}":${ike.local_port ?? 500} ${ike.libreswan_state ?? ike.state} (${ike.state === 'ESTABLISHED' ? 'established IKE SA' : ike.state.toLowerCase()}); ${rekey}newest ISAKMP; idle;`);
    }
    for (const ch of ike.children) {
      const label = ike.name === ch.name ? `"${ike.name}"` : `"${ike.name}/${ch.name}"`;
      const state = ike.state === 'MANUAL'
        ? `STATE_MANUAL_SA (static keys installed, ${ch.mode} mode); ${ch.state === 'INSTALLED' ? 'newest IPSEC; eroute owner; ' : ''}${xfrmName2(ch.proposal)}; idle;`
        : `STATE_V2_ESTABLISHED_CHILD_SA (IPsec SA established); ${ch.rekey_in_s !== null ? `EVENT_SA_REKEY in ${ch.rekey_in_s}s; ` : ''}newest IPSEC; eroute owner; isakmp#${ike.serial ?? 0}; idle;`;
      lines.push(`000 #${ch.serial}: ${label}:4500 ${state}`);
      lines.push(`000 #${ch.serial}: ${label} esp.${bareSpi(ch.spi_out)}@${ike.remote} esp.${bareSpi(ch.spi_in)}@${ike.local} Traffic: ESPin=${humanBytes(ch.bytes_in)} ESPout=${humanBytes(ch.bytes_out)}! ESPmax=0B`);
    }
  }
  const d = st.drops;
  lines.push('000');
  lines.push(`000 drops: auth_failed=${d.auth_failed} replay=${d.replay} unknown_spi=${d.unknown_spi} malformed=${d.malformed} policy=${d.policy} lifetime=${d.lifetime}`);
  return lines.join('\n') + '\n';
}

function xfrmName2(proposal: string): string {
  return `xfrm=${proposal.includes('_') ? proposal : xfrmName(proposal)}-NONE`;
}
