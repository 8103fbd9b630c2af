import type { Child } from './child.js';
import type { DropCounts, OutboundDropCounts } from './counters.js';
import type { SaPair } from './sa-pair.js';
import { formatTs } from '../wire/traffic-selector.js';
import type { EspMode } from './types.js';

/** One SA pair as `ipsec status` shows it. Field names follow CONTRACTS.md's JSON. */
export interface SaStatus {
  /** "0x" and 8 hex digits, as in the config file. */
  spi_in: string;
  spi_out: string;
  state: 'installed' | 'rekey-due' | 'expired';
  /** True for the pair that carries outbound traffic. */
  outbound: boolean;
  mode: EspMode;
  proposal: string;
  bytes_in: number;
  bytes_out: number;
  packets_in: number;
  packets_out: number;
  /** Authenticated dummy packets (next header 59) discarded. */
  dummy_in: number;
  /** Last sequence number sent, highest accepted. */
  seq_out: number;
  seq_in: number;
  replay_window: number;
  age_s: number;
  /** Seconds until the soft time limit, null without one. */
  rekey_in_s: number | null;
  /** Inbound packets for this SA refused, by cause. */
  drops: DropCounts;
  /** Outbound packets this SA refused to send after a hard limit. */
  refused_out: number;
}

export interface ChildStatus {
  name: string;
  mode: EspMode;
  local: string;
  remote: string;
  remote_port: number;
  proposal: string;
  local_ts: string[];
  remote_ts: string[];
  /** Newest first: sas[0] carries outbound traffic. */
  sas: SaStatus[];
}

export interface DataPathStatus {
  children: ChildStatus[];
  /** Inbound packets refused, by cause (all SAs plus those no SA claimed). */
  drops: DropCounts;
  /** Outbound packets from the TUN that were not sent (never sent in cleartext either). */
  outbound_drops: OutboundDropCounts;
  dummy_in: number;
}

export function spiText(spi: number): string {
  return `0x${(spi >>> 0).toString(16).padStart(8, '0')}`;
}

export function saStatus(pair: SaPair, isOutbound: boolean, now: number): SaStatus {
  const soft = pair.inbound.softReason ?? pair.outbound.softReason;
  return {
    spi_in: spiText(pair.spiIn),
    spi_out: spiText(pair.spiOut),
    state: pair.expired ? 'expired' : soft !== null ? 'rekey-due' : 'installed',
    outbound: isOutbound,
    mode: pair.mode,
    proposal: pair.proposal,
    bytes_in: pair.inbound.bytes,
    bytes_out: pair.outbound.bytes,
    packets_in: pair.inbound.packets,
    packets_out: pair.outbound.packets,
    dummy_in: pair.inbound.dummyPackets,
    seq_out: pair.outbound.lastSeq,
    seq_in: pair.inbound.window.highest,
    replay_window: pair.inbound.window.size,
    age_s: Math.max(0, Math.floor((now - pair.installedAt) / 1000)),
    rekey_in_s: pair.rekeyInSeconds(now),
    drops: { ...pair.inbound.drops },
    refused_out: pair.outbound.refused,
  };
}

export function childStatus(child: Child, now: number): ChildStatus {
  const spec = child.spec;
  const newest = child.outbound;
  const sas = child.pairs.map((p) => saStatus(p, p === newest, now)).reverse();
  return {
    name: spec.name,
    mode: spec.mode,
    local: spec.local,
    remote: spec.remote,
    remote_port: spec.remotePort,
    proposal: newest?.proposal ?? spec.proposal ?? '',
    local_ts: spec.localTs.map(formatTs),
    remote_ts: spec.remoteTs.map(formatTs),
    sas,
  };
}
