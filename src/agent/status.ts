import type { DataPathStatus, SaStatus } from '../esp/status.js';
import type { DropCounts } from '../esp/counters.js';
import type { IkeSaStatus, IkeStatus } from '../ike/status.js';
import type { OverlayStatus, TunnelStatus } from '../overlay/engine.js';
import type { UnknownSpiCounters } from './unknown-spi.js';
import type { NodeModePhase, PairState, WantedMode } from './pair-mode.js';
import { bareSpi, humanBytes, type ChildSaJson, type IkeSaJson, type StatusJson, type UdpSendRefusals } from '../host/status.js';
import { byCodeUnit } from '../util/text-order.js';

/**
 * The agent's status in the seed's shapes: `ovs-appctl tunnels/show`, `ipsec/status` (a dict of
 * tunnel → connection → libreswan traffic line) and `ipsec status` (libreswan's lines), each also
 * as JSON. Pure functions of the engines' snapshots.
 */

export interface CredentialPaths {
  cert: string;
  key: string;
  ca: string;
}

export interface AgentSnapshot {
  node: string;
  systemId: string;
  underlay: string;
  ipsec: boolean;
  overlay: OverlayStatus;
  /** Present with IPsec on. */
  ike?: IkeStatus;
  esp?: DataPathStatus;
  creds: CredentialPaths;
  udp: { keepalives: number; ike_datagrams: number; malformed: number; send_drops?: number; send_refusals?: UdpSendRefusals };
  tun: { name: string; write_errors: number };
  /** With IPsec on: what became of ESP for unknown SPIs. */
  unknownSpi?: UnknownSpiCounters;
  /** The IPsec mode the config wants, the node's phase towards it and each peer node's pair state. */
  mode: { wanted: WantedMode; phase: NodeModePhase; pairs: Record<string, PairState> };
}

// `ipsec status --json` (CONTRACTS.md): the same shape ipsecd answers with, one definition.
export type { ChildSaJson, IkeSaJson, StatusJson } from '../host/status.js';

/** One child SA joined with its ESP counters. */
export interface ActiveChild {
  tunnel: string;
  conn: string;
  serial: number;
  ike_serial: number;
  state: string;
  newest: boolean;
  spi_in: string;
  spi_out: string;
  local: string;
  remote: string;
  local_ts: string[];
  remote_ts: string[];
  proposal: string;
  bytes_in: number;
  bytes_out: number;
  packets_in: number;
  packets_out: number;
  rekey_in_s: number | null;
  drops: DropCounts | undefined;
  /** libreswan's traffic line: `000 #8: "conn" esp.<out>@<remote> esp.<in>@<local> Traffic: …`. */
  line: string;
}

export interface TunnelShow {
  interface: string;
  version: 'v1';
  state: 'CONFIGURED' | 'NEW';
  tunnel_type: 'geneve';
  local_ip: string;
  remote_ip: string;
  address_family: 'IPv4';
  skb_mark: string;
  local_cert: string;
  local_name: string;
  local_key: string;
  remote_cert: string;
  remote_name: string;
  ca_cert: string;
  psk: string;
  ofport: number;
  cfm_state: 'Disabled';
  /** Extensions: the peer node, its subnet and VNI, the overlay counters, the IKE SA state. */
  node: string;
  subnet: string;
  vni: number;
  ipsec: boolean;
  /** The pair's IPsec transition state (pair-mode.ts): encrypted, plain, or a step between. */
  ipsec_mode: PairState | null;
  ike_state: string | null;
  established: boolean;
  counters: { packets_in: number; bytes_in: number; packets_out: number; bytes_out: number };
  kernel_policies: string[];
  kernel_sas: string[];
  active: ActiveChild[];
}

const host = (endpoint: string): string => endpoint.replace(/:\d+$/, '');

interface Sel {
  addr: string;
  proto: string;
  port: string | undefined;
}

/** `192.168.7.11/32[udp/6081]` → parts; anything else is kept whole as the address. */
function parseSel(text: string): Sel {
  const m = /^([^[]+)(?:\[([a-z0-9]*)(?:\/([0-9-]+))?\])?$/.exec(text);
  if (!m) return { addr: text, proto: '', port: undefined };
  return { addr: m[1]!, proto: m[2] ?? '', port: m[3] };
}

/** One xfrm-style selector line: `src A/32 dst B/32 proto udp dport 6081`. */
function selectorLine(src: Sel, dst: Sel): string {
  const proto = src.proto || dst.proto;
  let s = `src ${src.addr} dst ${dst.addr}`;
  if (proto) s += ` proto ${proto}`;
  if (src.port) s += ` sport ${src.port}`;
  if (dst.port) s += ` dport ${dst.port}`;
  return s;
}

function tunnelOf(conn: string): string {
  return conn.replace(/-(in|out)-\d+$/, '');
}

/** Children of every IKE SA, joined with the data path's per-SA counters. */
export function activeChildren(ike: IkeStatus | undefined, esp: DataPathStatus | undefined): ActiveChild[] {
  if (!ike) return [];
  // Keyed by the SPI's text ("0x" + 8 hex digits on both sides): joined, never parsed back.
  const sas = new Map<string, SaStatus>();
  for (const c of esp?.children ?? []) for (const sa of c.sas) sas.set(sa.spi_in, sa);
  const out: ActiveChild[] = [];
  const newestSerial = new Map<string, number>();
  for (const s of ike.ike_sas) for (const c of s.children) if (c.state === 'installed' || c.state === 'rekeying') newestSerial.set(c.name, Math.max(newestSerial.get(c.name) ?? 0, c.serial));
  for (const s of ike.ike_sas) {
    for (const c of s.children) {
      const sa = sas.get(`0x${c.spi_in}`);
      const remote = host(s.remote);
      const local = host(s.local);
      const bytesIn = sa?.bytes_in ?? 0;
      const bytesOut = sa?.bytes_out ?? 0;
      out.push({
        tunnel: tunnelOf(c.name),
        conn: c.name,
        serial: c.serial,
        ike_serial: s.serial,
        state: c.state,
        newest: newestSerial.get(c.name) === c.serial,
        spi_in: `0x${c.spi_in}`,
        spi_out: `0x${c.spi_out}`,
        local,
        remote,
        local_ts: c.local_ts,
        remote_ts: c.remote_ts,
        proposal: c.proposal,
        bytes_in: bytesIn,
        bytes_out: bytesOut,
        packets_in: sa?.packets_in ?? 0,
        packets_out: sa?.packets_out ?? 0,
        rekey_in_s: c.rekey_in_s,
        drops: sa?.drops,
        line: `000 #${c.serial}: "${c.name}" esp.${bareSpi(c.spi_out)}@${remote} esp.${bareSpi(c.spi_in)}@${local} Traffic: ESPin=${humanBytes(bytesIn)} ESPout=${humanBytes(bytesOut)}! ESPmax=0B`,
      });
    }
  }
  return out.sort((a, b) => byCodeUnit(a.conn, b.conn) || a.serial - b.serial);
}

function ikeFor(ike: IkeStatus | undefined, tunnel: string): IkeSaStatus | undefined {
  const list = (ike?.ike_sas ?? []).filter((s) => s.name === tunnel);
  return list.find((s) => s.state === 'established') ?? list[0];
}

export function tunnelsShow(snap: AgentSnapshot): TunnelShow[] {
  const active = activeChildren(snap.ike, snap.esp);
  return snap.overlay.tunnels.map((t: TunnelStatus): TunnelShow => {
    const mine = active.filter((a) => a.tunnel === t.name);
    const policies: string[] = [];
    const sas: string[] = [];
    const seenPolicy = new Set<string>();
    for (const a of mine.filter((x) => x.newest)) {
      // The SPD entries: out (local → remote) and in (remote → local) per child, as `ip xfrm policy` lists them.
      for (const [l, r] of a.local_ts.flatMap((lt) => a.remote_ts.map((rt) => [parseSel(lt), parseSel(rt)] as const))) {
        for (const line of [selectorLine(l, r), selectorLine(r, l)]) {
          if (!seenPolicy.has(line)) policies.push(line);
          seenPolicy.add(line);
        }
      }
    }
    for (const a of mine) {
      for (const [l, r] of a.local_ts.flatMap((lt) => a.remote_ts.map((rt) => [parseSel(lt), parseSel(rt)] as const))) {
        sas.push(`sel ${selectorLine(r, l)}`);
        sas.push(`sel ${selectorLine(l, r)}`);
      }
    }
    const ikeSa = ikeFor(snap.ike, t.name);
    return {
      interface: t.name,
      version: 'v1',
      state: snap.ipsec ? 'CONFIGURED' : 'NEW',
      tunnel_type: 'geneve',
      local_ip: snap.underlay,
      remote_ip: t.remote_ip,
      address_family: 'IPv4',
      skb_mark: 'None',
      local_cert: snap.ipsec ? snap.creds.cert : 'None',
      local_name: snap.ipsec ? snap.systemId : 'None',
      local_key: snap.ipsec ? snap.creds.key : 'None',
      remote_cert: 'None',
      remote_name: snap.ipsec ? t.system_id : 'None',
      ca_cert: snap.ipsec ? snap.creds.ca : 'None',
      psk: 'None',
      ofport: t.ofport,
      cfm_state: 'Disabled',
      node: t.node,
      subnet: t.subnet,
      vni: t.vni,
      ipsec: snap.ipsec,
      ipsec_mode: snap.mode.pairs[t.node] ?? null,
      ike_state: ikeSa?.libreswan_state ?? null,
      established: ikeSa?.state === 'established' && mine.some((a) => a.newest && a.conn.endsWith('-in-1')) && mine.some((a) => a.newest && a.conn.endsWith('-out-1')),
      counters: { packets_in: t.packets_in, bytes_in: t.bytes_in, packets_out: t.packets_out, bytes_out: t.bytes_out },
      kernel_policies: policies,
      kernel_sas: sas,
      active: mine.filter((a) => a.newest),
    };
  });
}

/** The seed's `tunnels/show` text, field by field. */
export function formatTunnelsShow(tunnels: readonly TunnelShow[]): string {
  const lines: string[] = [];
  const f = (k: string, v: string | number): string => `  ${`${k}:`.padEnd(16)}${v}`;
  for (const t of tunnels) {
    lines.push(`Interface name: ${t.interface} ${t.version} (${t.state})`);
    lines.push(f('Tunnel Type', t.tunnel_type), f('Local IP', t.local_ip), f('Remote IP', t.remote_ip), f('Address Family', t.address_family));
    lines.push(f('SKB mark', t.skb_mark), f('Local cert', t.local_cert), f('Local name', t.local_name), f('Local key', t.local_key));
    lines.push(f('Remote cert', t.remote_cert), f('Remote name', t.remote_name), f('CA cert', t.ca_cert), f('PSK', t.psk));
    lines.push(f('Ofport', t.ofport), f('CFM state', t.cfm_state), f('IPsec mode', t.ipsec_mode ?? 'None'));
    lines.push('Kernel policies installed:', ...t.kernel_policies.map((p) => `  ${p}`));
    lines.push('Kernel security associations installed:', ...t.kernel_sas.map((p) => `  ${p}`));
    lines.push('IPsec connections that are active:', ...t.active.map((a) => `  ${a.line}`));
    lines.push('');
  }
  return lines.join('\n');
}

/** `ipsec/status`: tunnel → connection → traffic line, as the seed's dict. */
export function ipsecStatusDict(tunnels: readonly TunnelShow[]): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const t of [...tunnels].sort((a, b) => byCodeUnit(a.interface, b.interface))) {
    out[t.interface] = Object.fromEntries(t.active.map((a) => [a.conn, a.line]));
  }
  return out;
}

/** The dict in Python's repr, as ovs-appctl prints it. */
export function formatIpsecStatusDict(d: Record<string, Record<string, string>>): string {
  const q = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const inner = (m: Record<string, string>): string => `{${Object.entries(m).map(([k, v]) => `${q(k)}: ${q(v)}`).join(', ')}}`;
  return `{${Object.entries(d).map(([k, v]) => `${q(k)}: ${inner(v)}`).join(', ')}}\n`;
}

/** `ipsec status --json` in CONTRACTS.md's shape (with the ESP counters joined in). */
export function ipsecStatusJson(snap: AgentSnapshot): StatusJson {
  const active = activeChildren(snap.ike, snap.esp);
  const ike_sas: IkeSaJson[] = (snap.ike?.ike_sas ?? []).map((s) => ({
    name: s.name,
    state: s.libreswan_state,
    local: s.local,
    remote: s.remote,
    local_id: s.local_id || null,
    remote_id: s.remote_id || null,
    spi_i: s.spi_i,
    spi_r: s.spi_r,
    proposal: s.proposal || null,
    established_s: s.established_s,
    rekey_in_s: s.rekey_in_s,
    children: s.children.map((c): ChildSaJson => {
      const a = active.find((x) => x.serial === c.serial)!;
      return {
        name: c.name,
        state: c.state === 'installed' ? 'INSTALLED' : c.state.toUpperCase(),
        mode: c.mode,
        spi_in: `0x${c.spi_in}`,
        spi_out: `0x${c.spi_out}`,
        proposal: c.proposal,
        local_ts: c.local_ts,
        remote_ts: c.remote_ts,
        bytes_in: a.bytes_in,
        bytes_out: a.bytes_out,
        packets_in: a.packets_in,
        packets_out: a.packets_out,
        rekey_in_s: c.rekey_in_s,
        serial: c.serial,
        drops: a.drops ?? { auth_failed: 0, replay: 0, unknown_spi: 0, malformed: 0, policy: 0, lifetime: 0 },
      };
    }),
  }));
  const drops = snap.esp ? { ...snap.esp.drops, malformed: snap.esp.drops.malformed + snap.udp.malformed } : { auth_failed: 0, replay: 0, unknown_spi: 0, malformed: 0, policy: 0, lifetime: 0 };
  const outbound = snap.esp?.outbound_drops ?? { no_policy: 0, no_sa: 0, policy: 0, malformed: 0, lifetime: 0, oversize: 0 };
  return {
    ike_sas, drops, outbound_drops: outbound, udp: snap.udp, tun: snap.tun, listen: snap.ipsec ? [`${snap.underlay}:500`, `${snap.underlay}:4500`] : [],
    ...(snap.ike ? { ike: { ...snap.ike.counters } } : {}),
    ...(snap.unknownSpi ? { unknown_spi: { ...snap.unknownSpi } } : {}),
    mode: { wanted: snap.mode.wanted, phase: snap.mode.phase, pairs: { ...snap.mode.pairs } },
    overlay_drops: { ...snap.overlay.drops.inbound },
  };
}

/** libreswan's `ipsec status`: interfaces, then per IKE SA its line and its children's two lines each. */
export function formatIpsecStatusText(snap: AgentSnapshot, interfaceName = 'eth0'): string {
  const lines = ['000 using kernel interface: userspace-esp (overlay-ipsec)', '000'];
  lines.push(`000 interface ${interfaceName} UDP ${snap.underlay}:4500`, `000 interface ${interfaceName} UDP ${snap.underlay}:500`, '000');
  const active = activeChildren(snap.ike, snap.esp);
  for (const s of [...(snap.ike?.ike_sas ?? [])].sort((a, b) => byCodeUnit(a.name, b.name) || a.serial - b.serial)) {
    const first = s.children[0]?.name ?? s.name;
    const rekey = s.rekey_in_s !== null ? `EVENT_SA_REKEY in ${s.rekey_in_s}s; ` : '';
    const desc = s.state === 'established' ? '(established IKE SA)' : `(${s.state})`;
    lines.push(`000 #${s.serial}: "${first}":500 ${s.libreswan_state} ${desc}; ${rekey}newest ISAKMP; idle;`);
    for (const c of s.children) {
      const a = active.find((x) => x.serial === c.serial)!;
      const timer = c.rekey_in_s !== null ? `EVENT_SA_REKEY in ${c.rekey_in_s}s; ` : '';
      const owner = a.newest ? 'newest IPSEC; eroute owner; ' : '';
      lines.push(`000 #${c.serial}: "${c.name}":500 STATE_V2_ESTABLISHED_CHILD_SA (IPsec SA established); ${timer}${owner}isakmp#${s.serial}; idle;`);
      lines.push(a.line);
    }
  }
  lines.push('000', '000 Bare Shunt list:', '000');
  return lines.join('\n') + '\n';
}
