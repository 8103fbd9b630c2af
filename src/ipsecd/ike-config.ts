import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../util/errors.js';
import type { IkeConnectionConfig, IkeChildConfig } from '../ike/config.js';
import { parseProposal } from '../ike/proposals.js';
import { createAuthProvider, AuthConfigError, type AuthConnConfig } from '../ike/auth/index.js';
import type { FileConfig } from './config-schema.js';
import { parseIpv4 } from '../wire/address.js';
import { parseTs, resolveTs, type TrafficSelector } from '../wire/traffic-selector.js';

type FileConnection = FileConfig['connections'][string];

/** One IKE child as the route planner and status see it (the data path names it `conn/child`). */
export interface IkeChildRoute {
  name: string;
  conn: string;
  child: string;
  mode: 'tunnel' | 'transport';
  localAddr: string;
  remoteAddr: string;
  localTs: TrafficSelector[];
  remoteTs: TrafficSelector[];
  localTsText: string[];
  remoteTsText: string[];
  startAction: 'start' | 'trap' | 'none';
}

/** An IKE connection: what the engine, the auth provider and the routes need. */
export interface IkeConnection {
  name: string;
  localAddr: string;
  remoteAddr: string;
  engine: IkeConnectionConfig;
  auth: AuthConnConfig;
  children: IkeChildRoute[];
  /** Whether the daemon initiates at start (some child has start_action start). */
  startAtBoot: boolean;
  /** Whether the first packet a trap child's policy matches starts it. */
  trap: boolean;
}

export const DEFAULT_IKE_PROPOSALS = ['aes256gcm16-prfsha256-modp2048'];
export const DEFAULT_ESP_PROPOSALS = ['aes256gcm16'];

/** 10s, 5m, 4h, 1d or plain seconds → milliseconds (the schema already checked the form). */
export function durationMs(v: number | string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number') return v * 1000;
  const m = /^(\d+)([smhd]?)$/.exec(v)!;
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2]!]!;
  return Number(m[1]) * unit * 1000;
}

/** swanctl's secret forms: 0s<base64>, 0x<hex>, or the text itself. */
function parsePsk(file: string, at: string, s: string): Buffer {
  if (s.startsWith('0s')) {
    const b = Buffer.from(s.slice(2), 'base64');
    if (b.length === 0 || b.toString('base64').replace(/=+$/, '') !== s.slice(2).replace(/=+$/, '')) {
      throw new ConfigError(file, at, 'invalid base64 after 0s', 'write 0s followed by base64, e.g. 0sc2VjcmV0');
    }
    return b;
  }
  if (s.startsWith('0x')) {
    if (!/^([0-9a-fA-F]{2})+$/.test(s.slice(2))) throw new ConfigError(file, at, 'invalid hex after 0x', 'write 0x followed by an even number of hex digits');
    return Buffer.from(s.slice(2), 'hex');
  }
  if (s.length === 0) throw new ConfigError(file, at, 'the pre-shared key is empty', 'set a secret of at least 16 characters');
  return Buffer.from(s, 'utf8');
}

function readPem(file: string, at: string, rel: string): string {
  const abs = path.resolve(path.dirname(path.resolve(file)), rel);
  try {
    return readFileSync(abs, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (e as Error).message;
    throw new ConfigError(file, at, `cannot read ${abs}: ${why}`, 'paths are relative to the config file');
  }
}

function checkProposals(file: string, at: string, list: string[] | undefined, protocol: 'ike' | 'esp', dflt: string[]): string[] {
  const texts = list ?? dflt;
  if (texts.length === 0) throw new ConfigError(file, at, 'expected at least one proposal', protocol === 'ike' ? 'e.g. [aes256gcm16-prfsha256-modp2048]' : 'e.g. [aes256gcm16]');
  texts.forEach((t, i) => {
    try {
      parseProposal(t, protocol);
    } catch (e) {
      throw new ConfigError(file, `${at}.${i}`, (e as Error).message,
        protocol === 'ike' ? 'swanctl syntax: aes256gcm16-prfsha256-modp2048 (ecp256, x25519 for DH 19, 31)' : 'swanctl syntax: aes256gcm16 or aes256gcm16-modp2048 (PFS)');
    }
  });
  return texts;
}

/** Maps the auth provider's key names back onto the YAML's. */
function authKey(key: string): string {
  if (key === 'local.certPem') return 'local.cert';
  if (key === 'local.keyPem') return 'local.key';
  const ca = /^caPems\[(\d+)\]$/.exec(key);
  if (ca) return `ca.${ca[1]}`;
  if (key === 'caPems') return 'ca';
  return key;
}

/** Builds one IKE connection from its YAML; every problem is a ConfigError naming the key. */
export function buildIkeConnection(file: string, name: string, c: FileConnection, now: () => Date): IkeConnection {
  const at = `connections.${name}`;
  if (!c.local) throw new ConfigError(file, `${at}.local`, 'required key is missing', 'add local: { auth: pubkey, cert: a.pem, key: a.key } or { auth: psk, id: a.example }');
  if (!c.remote) throw new ConfigError(file, `${at}.remote`, 'required key is missing', 'add remote: { auth: pubkey, id: b.example } or { auth: psk, id: b.example }');
  if (!c.children || Object.keys(c.children).length === 0) throw new ConfigError(file, `${at}.children`, 'an IKE connection needs at least one child', 'add children: { name: { local_ts: [...], remote_ts: [...] } }');
  for (const k of ['cert', 'key'] as const) {
    if (c.remote[k] !== undefined) throw new ConfigError(file, `${at}.remote.${k}`, 'the peer\'s certificate comes in IKE_AUTH and is checked against ca', 'remove it; list the peer\'s CA under ca');
  }
  const localAddr = c.local_addrs[0]!;
  const remoteAddr = c.remote_addrs[0]!;
  const auth: AuthConnConfig = {
    local: { auth: c.local.auth, ...(c.local.id !== undefined ? { id: c.local.id } : {}) },
    remote: { auth: c.remote.auth, ...(c.remote.id !== undefined ? { id: c.remote.id } : {}) },
  };
  if (c.local.auth === 'pubkey') {
    if (!c.local.cert) throw new ConfigError(file, `${at}.local.cert`, 'pubkey authentication needs our certificate', 'set cert: to a PEM file');
    if (!c.local.key) throw new ConfigError(file, `${at}.local.key`, 'pubkey authentication needs our private key', 'set key: to a PEM file');
    auth.local.certPem = readPem(file, `${at}.local.cert`, c.local.cert);
    auth.local.keyPem = readPem(file, `${at}.local.key`, c.local.key);
  } else {
    for (const k of ['cert', 'key'] as const) {
      if (c.local[k] !== undefined) throw new ConfigError(file, `${at}.local.${k}`, 'not used with auth: psk', 'remove it, or use auth: pubkey');
    }
  }
  if (c.ca) auth.caPems = c.ca.map((p, i) => readPem(file, `${at}.ca.${i}`, p));
  if (c.psk !== undefined) auth.psk = parsePsk(file, `${at}.psk`, c.psk);
  try {
    createAuthProvider({ [name]: auth }, now);
  } catch (e) {
    if (e instanceof AuthConfigError) throw new ConfigError(file, `${at}.${authKey(e.key)}`, e.problem, e.fix);
    throw e;
  }

  const proposals = checkProposals(file, `${at}.proposals`, c.proposals, 'ike', DEFAULT_IKE_PROPOSALS);
  const local = parseIpv4(localAddr)!;
  const remote = parseIpv4(remoteAddr)!;
  const routes: IkeChildRoute[] = [];
  const children: IkeChildConfig[] = [];
  for (const [child, ch] of Object.entries(c.children)) {
    const cat = `${at}.children.${child}`;
    const mode = ch.mode ?? 'tunnel';
    const localTs = ch.local_ts ?? [parseTs('dynamic')];
    const remoteTs = ch.remote_ts ?? [parseTs('dynamic')];
    if (mode === 'transport') {
      for (const [list, key] of [[localTs, 'local_ts'], [remoteTs, 'remote_ts']] as const) {
        const host = key === 'local_ts' ? local : remote;
        const i = list.findIndex((t) => !t.dynamic && !(t.ts.startAddr === host && t.ts.endAddr === host));
        if (i >= 0) throw new ConfigError(file, `${cat}.${key}.${i}`, 'transport mode selectors can only name the host itself', 'use dynamic or dynamic[udp/6081]');
      }
    }
    const esp = checkProposals(file, `${cat}.esp_proposals`, ch.esp_proposals, 'esp', DEFAULT_ESP_PROPOSALS);
    const startAction = ch.start_action ?? 'start';
    const rekeyTimeMs = durationMs(ch.rekey_time);
    children.push({
      name: child, mode,
      localTs: localTs.map((t) => t.text), remoteTs: remoteTs.map((t) => t.text),
      espProposals: esp, startAction,
      ...(rekeyTimeMs !== undefined ? { rekeyTimeMs } : { rekeyTimeMs: 3600_000 }),
      ...(ch.life_bytes ? { lifeBytes: ch.life_bytes } : {}),
      ...(ch.life_packets ? { lifePackets: ch.life_packets } : {}),
    });
    routes.push({
      name: `${name}/${child}`, conn: name, child, mode, localAddr, remoteAddr,
      localTs: resolveTs(localTs, local), remoteTs: resolveTs(remoteTs, remote),
      localTsText: localTs.map((t) => t.text), remoteTsText: remoteTs.map((t) => t.text), startAction,
    });
  }
  const dpdDelayMs = durationMs(c.dpd_delay);
  const rekeyTimeMs = durationMs(c.rekey_time);
  const engine: IkeConnectionConfig = {
    name, localAddrs: [localAddr], remoteAddrs: [remoteAddr],
    localPort: c.local_port ?? 500, remotePort: c.remote_port ?? 500,
    proposals, children,
    ...(dpdDelayMs !== undefined ? { dpdDelayMs } : {}),
    rekeyTimeMs: rekeyTimeMs ?? 4 * 3600_000,
  };
  return {
    name, localAddr, remoteAddr, engine, auth, children: routes,
    startAtBoot: routes.some((r) => r.startAction === 'start'),
    trap: routes.some((r) => r.startAction === 'trap'),
  };
}
