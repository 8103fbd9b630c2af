import path from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../util/errors.js';
import { readConfigText } from '../util/config-text.js';
import { quoteShort } from '../util/describe.js';
import { fileSchema, type FileConfig } from './config-schema.js';
import { parseIpv4 } from '../wire/address.js';
import { resolveTs, type TrafficSelector } from '../wire/traffic-selector.js';
import { buildIkeConnection, durationMs, type IkeConnection } from './ike-config.js';

/** One connection with static keys, ready for the data path. */
export interface ManualConnection {
  name: string;
  mode: 'tunnel' | 'transport';
  localAddr: string;
  remoteAddr: string;
  /** The peer's ESP-in-UDP port (4500 unless the config says otherwise). */
  remotePort: number;
  /** Selectors as written (for status), and resolved to numbers (for the data path). */
  localTsText: string[];
  remoteTsText: string[];
  localTs: TrafficSelector[];
  remoteTs: TrafficSelector[];
  spiIn: number;
  spiOut: number;
  keyIn: Buffer;
  keyOut: Buffer;
  /** esp proposal in swanctl words, e.g. aes256gcm16. */
  proposal: 'aes256gcm16' | 'aes128gcm16';
  replayWindow: number;
  lifeBytes: number;
  lifePackets: number;
}

export interface TunConfig {
  name: string;
  mtu: number;
  /** Policy-routing table holding the routes into the TUN. */
  table: number;
  /** Priority of the first ip rule; the daemon uses a few consecutive ones. */
  rulePriority: number;
}

export interface IpsecdConfig {
  /** The file as named by the user (messages use it) and its absolute path. */
  file: string;
  absFile: string;
  connections: ManualConnection[];
  /** Connections keyed by IKE (children:), in file order. */
  ike: IkeConnection[];
  /** IKE retransmission (ms, count, back-off factor); strongSwan's 4s/5/1.8 unless set. */
  retransmit: { timeoutMs: number; tries: number; base: number };
  tun: TunConfig;
}

export const DEFAULT_TUN: TunConfig = { name: 'oi0', mtu: 1400, table: 2200, rulePriority: 2200 };
export const DEFAULT_REPLAY_WINDOW = 1024;

/** A one-line fix per key, appended to messages so the user knows what to write instead. */
const FIXES: Record<string, string> = {
  key_in: 'write "0x" and the hex of the AES key followed by the 4-byte salt, 72 hex digits for aes256gcm16',
  key_out: 'write "0x" and the hex of the AES key followed by the 4-byte salt, 72 hex digits for aes256gcm16',
  spi_in: 'use a hex SPI like 0x00002002',
  spi_out: 'use a hex SPI like 0x00001001',
  local_ts: 'use dynamic, a CIDR like 10.254.1.0/24, or CIDR[udp/6081]',
  remote_ts: 'use dynamic, a CIDR like 10.254.2.0/24, or CIDR[udp/6081]',
  local_addrs: 'list this host\'s address, e.g. [198.18.0.1]',
  remote_addrs: 'list the peer\'s address, e.g. [198.18.0.2]',
  mode: 'use tunnel or transport',
};

function keyPath(p: readonly PropertyKey[]): string {
  return p.map((k) => String(k)).join('.');
}

/** Turns the first schema issue into one ConfigError line. */
function issueToError(file: string, issue: z.core.$ZodIssue): ConfigError {
  const where = keyPath(issue.path);
  const last = String(issue.path[issue.path.length - 1] ?? '');
  switch (issue.code) {
    case 'unrecognized_keys': {
      const key = issue.keys[0]!;
      const full = where ? `${where}.${key}` : key;
      return new ConfigError(file, full, 'unknown key', 'remove it or check its spelling against CONTRACTS.md');
    }
    case 'invalid_type':
      if (issue.input === undefined) return new ConfigError(file, where, 'required key is missing', FIXES[last]);
      return new ConfigError(file, where, `expected ${issue.expected}, got ${describe(issue.input)}`, FIXES[last]);
    case 'invalid_value':
      return new ConfigError(file, where, `expected one of ${issue.values.map(String).join(', ')}, got ${describe(issue.input)}`);
    default:
      return new ConfigError(file, where, issue.message, issue.code === 'custom' ? FIXES[last] : undefined);
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return typeof v === 'string' ? `string ${quoteShort(v)}` : `${typeof v} ${JSON.stringify(v)}`;
}

/** Reads, parses and checks an ipsecd config; every problem is a ConfigError (exit 2). */
export function loadIpsecdConfig(file: string): IpsecdConfig {
  return parseIpsecdConfig(readConfigText(file, 'check the path given to --config'), file);
}

/** Parses config text; `file` names it in messages and anchors relative paths. */
export function parseIpsecdConfig(text: string, file: string, now: () => Date = () => new Date()): IpsecdConfig {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0];
    const msg = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    // A selector like 10.0.0.0/24[udp/6081] inside [ … ] is YAML flow syntax unless quoted.
    const hint = /\[[a-z0-9]+(\/[0-9a-z%-]*)?\]/i.test(text) ? 'quote selectors that carry [proto/port], e.g. ["10.0.0.0/24[udp/6081]"]' : undefined;
    // One line, never one per error: a wrong file (a binary, a log) has thousands.
    const more = doc.errors.length > 1 ? `; ${doc.errors.length - 1} more YAML errors after it` : '';
    throw new ConfigError(file, line ? `line ${line.line}` : '', `YAML syntax: ${msg}${more}`, hint ?? (more ? 'is this the right file? fix the first error and check again' : undefined));
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    // Aliases to missing anchors and alias bombs are reported only here, as plain exceptions.
    throw new ConfigError(file, '', `YAML error: ${(e as Error).message.split('\n')[0]}`, 'fix the anchors and aliases (&name / *name) in the file');
  }
  if (raw === null || raw === undefined) throw new ConfigError(file, '', 'the file is empty', 'add a connections: mapping');
  const parsed = fileSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) throw issueToError(file, parsed.error.issues[0]!);
  return check(parsed.data, file, now);
}

/** Checks that span several keys, and fills defaults. */
function check(cfg: FileConfig, file: string, now: () => Date): IpsecdConfig {
  const connections: ManualConnection[] = [];
  const ike: IkeConnection[] = [];
  const spisIn = new Map<number, string>();
  for (const [name, c] of Object.entries(cfg.connections)) {
    const at = `connections.${name}`;
    if (c.children && c.manual) {
      throw new ConfigError(file, `${at}.children`, 'a connection has either children (IKE) or manual (static keys), not both');
    }
    if (!c.manual) {
      ike.push(buildIkeConnection(file, name, c, now));
      continue;
    }
    for (const k of ['local', 'remote', 'ca', 'psk', 'proposals', 'dpd_delay', 'rekey_time', 'local_port', 'remote_port'] as const) {
      if (c[k] !== undefined) throw new ConfigError(file, `${at}.${k}`, 'IKE settings have no effect on a manual connection', 'remove it, or replace manual: with children:');
    }
    const m = c.manual;
    const localAddr = c.local_addrs[0]!;
    const remoteAddr = c.remote_addrs[0]!;
    if (m.key_in.length !== m.key_out.length) {
      throw new ConfigError(file, `${at}.manual.key_in`, `key_in has ${m.key_in.length} bytes but key_out has ${m.key_out.length}`, 'both directions use the same algorithm');
    }
    const proposal = m.esp_proposals?.[0] ?? (m.key_out.length === 36 ? 'aes256gcm16' : 'aes128gcm16');
    const want = proposal === 'aes256gcm16' ? 36 : 20;
    if (m.key_out.length !== want) {
      throw new ConfigError(file, `${at}.manual.key_out`, `expected ${want} bytes for ${proposal} (key ‖ 4-byte salt), got ${m.key_out.length}`);
    }
    const prior = spisIn.get(m.spi_in);
    if (prior) throw new ConfigError(file, `${at}.manual.spi_in`, `SPI 0x${m.spi_in.toString(16).padStart(8, '0')} is already used by connection ${prior}`, 'each inbound SPI must be unique');
    spisIn.set(m.spi_in, name);
    const local = parseIpv4(localAddr)!;
    const remote = parseIpv4(remoteAddr)!;
    const localTs = resolveTs(m.local_ts, local);
    const remoteTs = resolveTs(m.remote_ts, remote);
    if (m.mode === 'transport') {
      // Transport mode protects the hosts' own packets: selectors can only name the two addresses.
      for (const [list, key, host] of [[localTs, 'local_ts', local], [remoteTs, 'remote_ts', remote]] as const) {
        const i = list.findIndex((t) => t.startAddr > host || t.endAddr < host);
        if (i >= 0) {
          throw new ConfigError(file, `${at}.manual.${key}.${i}`, `transport mode selectors must contain the ${key === 'local_ts' ? 'local' : 'remote'} address ${key === 'local_ts' ? localAddr : remoteAddr}`, 'use dynamic or dynamic[udp/6081]');
        }
      }
    }
    connections.push({
      name, mode: m.mode, localAddr, remoteAddr,
      remotePort: m.remote_esp_port ?? 4500,
      localTsText: m.local_ts.map((t) => t.text),
      remoteTsText: m.remote_ts.map((t) => t.text),
      localTs, remoteTs,
      spiIn: m.spi_in, spiOut: m.spi_out, keyIn: m.key_in, keyOut: m.key_out,
      proposal,
      replayWindow: m.replay_window ?? DEFAULT_REPLAY_WINDOW,
      lifeBytes: m.life_bytes ?? 0,
      lifePackets: m.life_packets ?? 0,
    });
  }
  if (connections.length === 0 && ike.length === 0) throw new ConfigError(file, 'connections', 'no connections defined', 'add at least one connection');
  const tun: TunConfig = {
    name: cfg.tun?.name ?? DEFAULT_TUN.name,
    mtu: cfg.tun?.mtu ?? DEFAULT_TUN.mtu,
    table: cfg.tun?.table ?? DEFAULT_TUN.table,
    rulePriority: cfg.tun?.rule_priority ?? DEFAULT_TUN.rulePriority,
  };
  const retransmit = {
    timeoutMs: durationMs(cfg.retransmit?.timeout) ?? 4000,
    tries: cfg.retransmit?.tries ?? 5,
    base: cfg.retransmit?.base ?? 1.8,
  };
  if (retransmit.timeoutMs === 0) throw new ConfigError(file, 'retransmit.timeout', 'must be more than 0', 'e.g. 4s');
  return { file, absFile: path.resolve(file), connections, ike, retransmit, tun };
}

/** Paths inside the config are relative to the config file's directory. */
export function resolveConfigPath(cfg: Pick<IpsecdConfig, 'absFile'>, p: string): string {
  return path.resolve(path.dirname(cfg.absFile), p);
}
