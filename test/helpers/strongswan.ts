import { type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type ExecResult, type NetnsLab, waitFor } from './netns.js';
import { ownedTempDir, runAsync } from './harness-util.js';

/**
 * strongSwan 5.9.8 (charon-systemd with kernel-libipsec) as a test peer inside a namespace of a
 * test's NetnsLab: writes a standalone strongswan.conf and swanctl.conf for the given
 * connections, starts charon in the foreground, loads the config over vici and offers the
 * swanctl operations tests need. Everything lives in one temp dir, removed by stop().
 */

export interface SwanChild {
  name: string;
  /** kernel-libipsec supports tunnel mode only; 'transport' is there to test the refusal. */
  mode?: 'tunnel' | 'transport';
  /** Default ['aes256gcm16', 'aes256gcm16-modp2048', 'aes256gcm16-ecp256', 'aes256gcm16-x25519']. */
  espProposals?: string[];
  /** Default ['dynamic']. swanctl syntax: CIDRs, `dynamic[udp/6081]`, … */
  localTs?: string[];
  remoteTs?: string[];
  startAction?: 'none' | 'trap' | 'start';
  rekeyTime?: string;
  lifeTime?: string;
  dpdAction?: 'clear' | 'trap' | 'restart';
  closeAction?: 'none' | 'trap' | 'start';
  /** Raw `key = value` lines added to the child section. */
  extra?: string[];
}

export interface SwanEnd {
  /**
   * swanctl auth: 'pubkey', 'psk', or a constrained public-key form such as 'rsa/pss-sha256',
   * 'ecdsa-sha384' (anything but 'psk' uses the certificate).
   */
  auth: 'pubkey' | 'psk' | `${'rsa' | 'ecdsa' | 'pubkey' | 'rsa/pss'}-${string}`;
  id?: string;
}

export interface SwanConnection {
  name: string;
  localAddrs: string[];
  remoteAddrs: string[];
  /** 4500 on both to start IKE on 4500 directly (no NAT-T float). */
  localPort?: number;
  remotePort?: number;
  /** Default ['aes256gcm16-prfsha256-modp2048', 'aes256gcm16-prfsha256-ecp256', 'aes256gcm16-prfsha256-x25519']. */
  proposals?: string[];
  local: SwanEnd & { certPem?: string; keyPem?: string; extraCertPems?: string[] };
  remote: SwanEnd;
  /** Trust anchors for the peer's certificate (PEM). */
  caPems?: string[];
  /** The shared secret when either end uses PSK. */
  psk?: string;
  children: SwanChild[];
  rekeyTime?: string;
  reauthTime?: string;
  dpdDelay?: string;
  fragmentation?: 'yes' | 'no' | 'accept' | 'force';
  sendCertreq?: boolean;
  sendCert?: 'always' | 'ifasked' | 'never';
  /** Raw `key = value` lines added to the connection section. */
  extra?: string[];
}

export interface StrongSwanOptions {
  lab: NetnsLab;
  ns: string;
  /** Label for the temp dir and log (default: the namespace). */
  name?: string;
  connections: SwanConnection[];
  /** charon.signature_authentication (RFC 7427); default strongSwan's yes. */
  signatureAuthentication?: boolean;
  /** Retransmission: tries, first timeout (s), back-off base. Defaults shorten strongSwan's 5/4/1.8. */
  retransmit?: { tries: number; timeout: number; base: number };
  /** Raw lines added inside `charon { }` (one setting per line). */
  charonExtra?: string[];
  /** How long to wait for charon's vici socket. */
  startTimeoutMs?: number;
}

export interface SwanChildSa {
  name: string;
  uniqueId: number;
  reqid: number;
  state: string;
  mode: string;
  protocol: string;
  encap: boolean;
  spiIn: string;
  spiOut: string;
  encrAlg: string;
  encrKeysize: number;
  dhGroup: string;
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
  rekeyIn: number | undefined;
  lifeIn: number | undefined;
  localTs: string[];
  remoteTs: string[];
  raw: Record<string, string | string[]>;
}

export interface SwanIkeSa {
  name: string;
  uniqueId: number;
  state: string;
  localHost: string;
  localPort: number;
  localId: string;
  remoteHost: string;
  remotePort: number;
  remoteId: string;
  initiator: boolean;
  initiatorSpi: string;
  responderSpi: string;
  encrAlg: string;
  encrKeysize: number;
  prfAlg: string;
  dhGroup: string;
  rekeyIn: number | undefined;
  children: SwanChildSa[];
  raw: Record<string, string | string[]>;
}

const DEFAULT_PROPOSALS = ['aes256gcm16-prfsha256-modp2048', 'aes256gcm16-prfsha256-ecp256', 'aes256gcm16-prfsha256-x25519'];
const DEFAULT_ESP = ['aes256gcm16', 'aes256gcm16-modp2048', 'aes256gcm16-ecp256', 'aes256gcm16-x25519'];
const SWANCTL_DIRS = ['x509', 'x509ca', 'x509ocsp', 'x509aa', 'x509ac', 'x509crl', 'pubkey', 'private', 'rsa', 'ecdsa', 'bliss', 'pkcs8', 'pkcs12', 'conf.d'];

function q(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Which swanctl directory a private key PEM belongs in, by its PEM label. */
function keyDir(pem: string): string {
  if (pem.includes('BEGIN EC PRIVATE KEY')) return 'ecdsa';
  if (pem.includes('BEGIN RSA PRIVATE KEY')) return 'rsa';
  return 'pkcs8';
}

/** Renders a swanctl.conf (connections and secrets), writing certificates and keys beside it. */
function writeSwanctl(dir: string, conns: SwanConnection[]): void {
  const sw = path.join(dir, 'swanctl');
  for (const d of SWANCTL_DIRS) mkdirSync(path.join(sw, d), { recursive: true });
  const out: string[] = ['connections {'];
  const secrets: string[] = [];
  for (const c of conns) {
    const L = (s: string): number => out.push(`    ${s}`);
    out.push(`  ${c.name} {`);
    L('version = 2');
    L(`local_addrs = ${c.localAddrs.join(', ')}`);
    L(`remote_addrs = ${c.remoteAddrs.join(', ')}`);
    if (c.localPort) L(`local_port = ${c.localPort}`);
    if (c.remotePort) L(`remote_port = ${c.remotePort}`);
    L(`proposals = ${(c.proposals ?? DEFAULT_PROPOSALS).join(', ')}`);
    L('mobike = no');
    L('encap = yes');
    L(`fragmentation = ${c.fragmentation ?? 'no'}`);
    if (c.rekeyTime) L(`rekey_time = ${c.rekeyTime}`);
    if (c.reauthTime) L(`reauth_time = ${c.reauthTime}`);
    if (c.dpdDelay) L(`dpd_delay = ${c.dpdDelay}`);
    if (c.sendCertreq !== undefined) L(`send_certreq = ${c.sendCertreq ? 'yes' : 'no'}`);
    if (c.sendCert) L(`send_cert = ${c.sendCert}`);
    for (const x of c.extra ?? []) L(x);
    L('local {');
    L(`  auth = ${c.local.auth}`);
    if (c.local.id) L(`  id = ${q(c.local.id)}`);
    if (c.local.auth !== 'psk') {
      if (!c.local.certPem || !c.local.keyPem) throw new Error(`strongswan harness: connection ${c.name}: pubkey needs local.certPem and local.keyPem`);
      const certFile = `${c.name}-local.pem`;
      writeFileSync(path.join(sw, 'x509', certFile), c.local.certPem);
      writeFileSync(path.join(sw, keyDir(c.local.keyPem), `${c.name}-local.key.pem`), c.local.keyPem, { mode: 0o600 });
      (c.local.extraCertPems ?? []).forEach((pem, i) => writeFileSync(path.join(sw, 'x509', `${c.name}-chain${i}.pem`), pem));
      L(`  certs = ${certFile}`);
    }
    L('}');
    L('remote {');
    L(`  auth = ${c.remote.auth}`);
    if (c.remote.id) L(`  id = ${q(c.remote.id)}`);
    const caFiles = (c.caPems ?? []).map((pem, i) => {
      const f = `${c.name}-ca${i}.pem`;
      writeFileSync(path.join(sw, 'x509ca', f), pem);
      return f;
    });
    if (c.remote.auth !== 'psk' && caFiles.length) L(`  cacerts = ${caFiles.join(', ')}`);
    L('}');
    L('children {');
    for (const ch of c.children) {
      L(`  ${ch.name} {`);
      L(`    mode = ${ch.mode ?? 'tunnel'}`);
      L(`    esp_proposals = ${(ch.espProposals ?? DEFAULT_ESP).join(', ')}`);
      L(`    local_ts = ${(ch.localTs ?? ['dynamic']).join(', ')}`);
      L(`    remote_ts = ${(ch.remoteTs ?? ['dynamic']).join(', ')}`);
      L(`    start_action = ${ch.startAction ?? 'none'}`);
      if (ch.rekeyTime) L(`    rekey_time = ${ch.rekeyTime}`);
      if (ch.lifeTime) L(`    life_time = ${ch.lifeTime}`);
      if (ch.dpdAction) L(`    dpd_action = ${ch.dpdAction}`);
      if (ch.closeAction) L(`    close_action = ${ch.closeAction}`);
      for (const x of ch.extra ?? []) L(`    ${x}`);
      L('  }');
    }
    L('}');
    out.push('  }');
    if (c.local.auth === 'psk' || c.remote.auth === 'psk') {
      if (!c.psk) throw new Error(`strongswan harness: connection ${c.name}: PSK auth needs psk`);
      secrets.push(`  ike-${c.name} {`);
      if (c.local.id) secrets.push(`    id-local = ${q(c.local.id)}`);
      if (c.remote.id) secrets.push(`    id-remote = ${q(c.remote.id)}`);
      secrets.push(`    secret = ${q(c.psk)}`);
      secrets.push('  }');
    }
  }
  out.push('}');
  if (secrets.length) out.push('secrets {', ...secrets, '}');
  out.push('include conf.d/*.conf', '');
  writeFileSync(path.join(sw, 'swanctl.conf'), out.join('\n'));
  writeFileSync(path.join(sw, 'conf.d', 'empty.conf'), '');
}

function writeStrongswanConf(dir: string, o: StrongSwanOptions): void {
  const rt = o.retransmit ?? { tries: 3, timeout: 1, base: 1.4 };
  const lines = [
    '# standalone: does not include /etc/strongswan.d; one setting per line (several on a line are ignored)',
    'charon {',
    '  # kernel-libipsec first (it provides the IPsec backend: userspace ESP); kernel-netlink for addresses/routes',
    '  load = random nonce openssl pem pkcs1 pkcs8 x509 revocation constraints pubkey gmp aes sha1 sha2 hmac kdf gcm curve25519 mgf1 vici kernel-libipsec kernel-netlink socket-default updown',
    '  install_virtual_ip = no',
    `  signature_authentication = ${o.signatureAuthentication === false ? 'no' : 'yes'}`,
    `  retransmit_tries = ${rt.tries}`,
    `  retransmit_timeout = ${rt.timeout}`,
    `  retransmit_base = ${rt.base}`,
    ...(o.charonExtra ?? []).map((l) => `  ${l}`),
    '  plugins {',
    '    vici {',
    `      socket = unix://${dir}/charon.vici`,
    '    }',
    '    kernel-netlink {',
    '      fwmark = !0x42',
    '    }',
    '    socket-default {',
    '      fwmark = 0x42',
    '    }',
    '    kernel-libipsec {',
    '      allow_peer_ts = yes',
    '    }',
    '  }',
    '  filelog {',
    '    charonlog {',
    `      path = ${dir}/charon.log`,
    '      time_format = %T',
    '      append = no',
    '      flush_line = yes',
    '      default = 1',
    '      ike = 4',
    '      chd = 4',
    '      cfg = 2',
    '      knl = 2',
    '      esp = 2',
    '      net = 1',
    '    }',
    '  }',
    '}',
    'swanctl {',
    `  socket = unix://${dir}/charon.vici`,
    '  load = pem pkcs1 pkcs8 x509 revocation constraints pubkey openssl random',
    '}',
    '',
  ];
  writeFileSync(path.join(dir, 'strongswan.conf'), lines.join('\n'));
}

type Node = { [k: string]: string | string[] | Node };

/** Parses `swanctl --list-* --pretty` output: "name {", "key = value", "key = [" … "]", "}". */
export function parseSwanctlPretty(text: string): Node[] {
  const roots: Node[] = [];
  const stack: Node[] = [];
  let list: string[] | null = null;
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (!line) continue;
    if (list) {
      if (line === ']') list = null;
      else list.push(line);
      continue;
    }
    if (line === '}') {
      stack.pop();
      continue;
    }
    const open = /^(.*?)\s*\{$/.exec(line);
    if (open) {
      const node: Node = {};
      if (stack.length === 0) roots.push(node);
      else stack[stack.length - 1]![open[1]!] = node;
      stack.push(node);
      continue;
    }
    const kv = /^([^=]+?)\s*=\s*(.*)$/.exec(line);
    if (kv && stack.length) {
      if (kv[2] === '[') {
        list = [];
        stack[stack.length - 1]![kv[1]!] = list;
      } else {
        stack[stack.length - 1]![kv[1]!] = kv[2]!;
      }
    }
  }
  return roots;
}

function str(n: Node, k: string): string {
  const v = n[k];
  return typeof v === 'string' ? v : '';
}
function num(n: Node, k: string): number {
  return Number(str(n, k) || 0);
}
function optNum(n: Node, k: string): number | undefined {
  const v = str(n, k);
  return v === '' ? undefined : Number(v);
}
function arr(n: Node, k: string): string[] {
  const v = n[k];
  return Array.isArray(v) ? v : [];
}
function flat(n: Node): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(n)) if (typeof v === 'string' || Array.isArray(v)) out[k] = v;
  return out;
}

function toChild(name: string, c: Node): SwanChildSa {
  return {
    name: str(c, 'name') || name,
    uniqueId: num(c, 'uniqueid'),
    reqid: num(c, 'reqid'),
    state: str(c, 'state'),
    mode: str(c, 'mode'),
    protocol: str(c, 'protocol'),
    encap: str(c, 'encap') === 'yes',
    spiIn: str(c, 'spi-in'),
    spiOut: str(c, 'spi-out'),
    encrAlg: str(c, 'encr-alg'),
    encrKeysize: num(c, 'encr-keysize'),
    dhGroup: str(c, 'dh-group'),
    bytesIn: num(c, 'bytes-in'),
    bytesOut: num(c, 'bytes-out'),
    packetsIn: num(c, 'packets-in'),
    packetsOut: num(c, 'packets-out'),
    rekeyIn: optNum(c, 'rekey-time'),
    lifeIn: optNum(c, 'life-time'),
    localTs: arr(c, 'local-ts'),
    remoteTs: arr(c, 'remote-ts'),
    raw: flat(c),
  };
}

/** IKE SAs from `swanctl --list-sas --pretty`. */
export function parseListSas(text: string): SwanIkeSa[] {
  const sas: SwanIkeSa[] = [];
  for (const root of parseSwanctlPretty(text)) {
    for (const [name, v] of Object.entries(root)) {
      if (typeof v !== 'object' || Array.isArray(v)) continue;
      const ike = v;
      const kids = ike['child-sas'];
      const children = kids && typeof kids === 'object' && !Array.isArray(kids)
        ? Object.entries(kids).filter(([, c]) => typeof c === 'object' && !Array.isArray(c)).map(([k, c]) => toChild(k, c as Node))
        : [];
      sas.push({
        name,
        uniqueId: num(ike, 'uniqueid'),
        state: str(ike, 'state'),
        localHost: str(ike, 'local-host'),
        localPort: num(ike, 'local-port'),
        localId: str(ike, 'local-id'),
        remoteHost: str(ike, 'remote-host'),
        remotePort: num(ike, 'remote-port'),
        remoteId: str(ike, 'remote-id'),
        initiator: str(ike, 'initiator') === 'yes',
        initiatorSpi: str(ike, 'initiator-spi'),
        responderSpi: str(ike, 'responder-spi'),
        encrAlg: str(ike, 'encr-alg'),
        encrKeysize: num(ike, 'encr-keysize'),
        prfAlg: str(ike, 'prf-alg'),
        dhGroup: str(ike, 'dh-group'),
        rekeyIn: optNum(ike, 'rekey-time'),
        children,
        raw: flat(ike),
      });
    }
  }
  return sas;
}

/** One hex dump from charon's log (level 4): "label => N bytes @ 0x…" and its dump lines. */
export interface SwanLogDump {
  /** charon's worker thread number: a dump's lines, and related dumps, share it. */
  thread: number;
  label: string;
  data: Buffer;
  /** Index (0-based) of the log line on which the dump completed. */
  line: number;
}

/**
 * Extracts the hex dumps charon writes at log level 4 (g^ir, SKEYSEED, Sk_*, the AUTH octets,
 * child keys, …), in log order. Lines of other threads may interleave with a dump; a header can
 * be repeated before its dump lines — both are handled.
 */
export function parseLogDumps(log: string): SwanLogDump[] {
  const out: SwanLogDump[] = [];
  const open = new Map<number, { label: string; size: number; bytes: number[] }>();
  const lines = log.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const head = /^\S+ (\d+)\[\w+\] (.+?) => (\d+) bytes @ 0x[0-9a-f]+$/.exec(line);
    if (head) {
      const thread = Number(head[1]);
      const size = Number(head[3]);
      if (size === 0) out.push({ thread, label: head[2]!, data: Buffer.alloc(0), line: i });
      else open.set(thread, { label: head[2]!, size, bytes: [] });
      continue;
    }
    const dump = /^\S+ (\d+)\[\w+\] +\d+: ((?:[0-9A-F]{2} )*[0-9A-F]{2})/.exec(line);
    if (!dump) continue;
    const thread = Number(dump[1]);
    const cur = open.get(thread);
    if (!cur) continue;
    cur.bytes.push(...dump[2]!.split(' ').map((h) => parseInt(h, 16)));
    if (cur.bytes.length >= cur.size) {
      out.push({ thread, label: cur.label, data: Buffer.from(cur.bytes.slice(0, cur.size)), line: i });
      open.delete(thread);
    }
  }
  return out;
}

/** The keys charon derived for one IKE SA (initial or rekeyed), from its level-4 log. */
export interface SwanIkeKeys {
  skeyseed: Buffer;
  skD: Buffer;
  skEi: Buffer;
  skEr: Buffer;
  skPi: Buffer;
  skPr: Buffer;
}

/**
 * The keys of one CHILD SA: `encrI` protects initiator→responder traffic, `encrR` the reverse
 * (key ‖ 4-byte salt for AES-GCM). `spiIn`/`spiOut` are this charon's view, so on the IKE
 * initiator spiOut goes with encrI, on the responder spiOut goes with encrR.
 */
export interface SwanChildKeys {
  name: string;
  spiIn: string;
  spiOut: string;
  encrI: Buffer;
  encrR: Buffer;
}

/** IKE SA keys in derivation order (SKEYSEED starts each set; its Sk_* follow in the same thread). */
export function ikeKeysFromLog(log: string): SwanIkeKeys[] {
  const out: SwanIkeKeys[] = [];
  const open = new Map<number, Partial<SwanIkeKeys>>();
  const field: Record<string, keyof SwanIkeKeys> = {
    'Sk_d secret': 'skD', 'Sk_ei secret': 'skEi', 'Sk_er secret': 'skEr', 'Sk_pi secret': 'skPi', 'Sk_pr secret': 'skPr',
  };
  for (const d of parseLogDumps(log)) {
    if (d.label === 'SKEYSEED') {
      open.set(d.thread, { skeyseed: d.data });
      continue;
    }
    const k = field[d.label];
    const cur = open.get(d.thread);
    if (!k || !cur) continue;
    cur[k] = d.data;
    if (k === 'skPr') {
      if (cur.skD && cur.skEi && cur.skEr && cur.skPi) out.push(cur as SwanIkeKeys);
      open.delete(d.thread);
    }
  }
  return out;
}

/** CHILD SA keys with the SPIs from the "CHILD_SA … established with SPIs …" line that follows them. */
export function childKeysFromLog(log: string): SwanChildKeys[] {
  const out: SwanChildKeys[] = [];
  const pending = new Map<number, { encrI?: Buffer; encrR?: Buffer }>();
  const dumps = parseLogDumps(log);
  let di = 0;
  const lines = log.split('\n');
  for (let i = 0; i < lines.length; i++) {
    // Dumps completed up to this line, in order; keys are matched to SPIs by thread.
    for (; di < dumps.length && dumps[di]!.line <= i; di++) {
      const d = dumps[di]!;
      if (d.label === 'encryption initiator key') pending.set(d.thread, { ...pending.get(d.thread), encrI: d.data });
      if (d.label === 'encryption responder key') pending.set(d.thread, { ...pending.get(d.thread), encrR: d.data });
    }
    const m = /^\S+ (\d+)\[\w+\] CHILD_SA (\S+)\{\d+\} established with SPIs ([0-9a-f]{8})_i ([0-9a-f]{8})_o/.exec(lines[i]!);
    if (!m) continue;
    const t = Number(m[1]);
    const p = pending.get(t);
    if (p?.encrI && p.encrR) out.push({ name: m[2]!, spiIn: m[3]!, spiOut: m[4]!, encrI: p.encrI, encrR: p.encrR });
    pending.delete(t);
  }
  return out;
}

export interface SwanctlResult extends ExecResult {
  ok: boolean;
}

export class StrongSwan {
  private constructor(
    readonly lab: NetnsLab,
    readonly ns: string,
    /** The temp dir holding strongswan.conf, swanctl/, charon.log and the vici socket. */
    readonly dir: string,
    private readonly proc: ChildProcess,
  ) {}

  /** charon's PID (ip netns exec and env exec in place, so this is charon itself). */
  get pid(): number {
    return this.proc.pid!;
  }

  get confPath(): string {
    return path.join(this.dir, 'strongswan.conf');
  }

  /** Writes the config, starts charon in `ns`, waits for vici and loads everything. */
  static async start(o: StrongSwanOptions): Promise<StrongSwan> {
    const dir = ownedTempDir(`oit-sw-${o.name ?? o.ns}`);
    let proc: ChildProcess | undefined;
    try {
      writeStrongswanConf(dir, o);
      writeSwanctl(dir, o.connections);
      const out = openSync(path.join(dir, 'charon.stdout'), 'w');
      try {
        proc = o.lab.spawn(o.ns, ['env', `STRONGSWAN_CONF=${path.join(dir, 'strongswan.conf')}`, '/usr/sbin/charon-systemd'], {
          stdio: ['ignore', out, out],
        });
      } finally {
        closeSync(out);
      }
      const p = proc;
      const sock = path.join(dir, 'charon.vici');
      await waitFor(() => existsSync(sock) || p.exitCode !== null, `charon's vici socket in ${o.ns}`, o.startTimeoutMs ?? 10_000, 50);
      if (p.exitCode !== null) throw new Error(`charon in ${o.ns} exited with ${p.exitCode}: ${readFileSync(path.join(dir, 'charon.stdout'), 'utf8')}`);
      const sw = new StrongSwan(o.lab, o.ns, dir, p);
      const load = await sw.swanctl(['--load-all', '--noprompt', '--file', path.join(dir, 'swanctl', 'swanctl.conf')]);
      if (!load.ok) throw new Error(`swanctl --load-all failed in ${o.ns}:\n${load.stdout}${load.stderr}`);
      return sw;
    } catch (e) {
      if (proc) await o.lab.stop(proc);
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** Runs swanctl against this charon (vici over its own socket; no namespace needed). */
  async swanctl(args: string[], timeoutMs = 30_000): Promise<SwanctlResult> {
    const r = await runAsync(['swanctl', ...args], { timeoutMs, env: { ...process.env, STRONGSWAN_CONF: this.confPath } });
    return { ...r, ok: r.code === 0 };
  }

  /** Initiates a CHILD_SA (and its IKE_SA if needed); waits up to `timeoutS` for the outcome. */
  initiate(child: string, o: { ike?: string; timeoutS?: number } = {}): Promise<SwanctlResult> {
    const args = ['--initiate', '--child', child, '--timeout', String(o.timeoutS ?? 15)];
    if (o.ike) args.push('--ike', o.ike);
    return this.swanctl(args, ((o.timeoutS ?? 15) + 5) * 1000);
  }

  /** Initiates only the IKE_SA of a connection (no CHILD_SA). */
  initiateIke(ike: string, timeoutS = 15): Promise<SwanctlResult> {
    return this.swanctl(['--initiate', '--ike', ike, '--timeout', String(timeoutS)], (timeoutS + 5) * 1000);
  }

  /** Terminates an IKE_SA or CHILD_SA by config name (or unique id with `ikeId`/`childId`). */
  terminate(t: { ike?: string; child?: string; ikeId?: number; childId?: number; force?: boolean; timeoutS?: number }): Promise<SwanctlResult> {
    const args = ['--terminate', '--timeout', String(t.timeoutS ?? 10)];
    if (t.ike) args.push('--ike', t.ike);
    if (t.child) args.push('--child', t.child);
    if (t.ikeId !== undefined) args.push('--ike-id', String(t.ikeId));
    if (t.childId !== undefined) args.push('--child-id', String(t.childId));
    if (t.force) args.push('--force');
    return this.swanctl(args, ((t.timeoutS ?? 10) + 5) * 1000);
  }

  /** Starts a rekey of a CHILD_SA or IKE_SA (asynchronous in charon: poll listSas for the result). */
  rekey(t: { ike?: string; child?: string; reauth?: boolean }): Promise<SwanctlResult> {
    const args = ['--rekey'];
    if (t.ike) args.push('--ike', t.ike);
    if (t.child) args.push('--child', t.child);
    if (t.reauth) args.push('--reauth');
    return this.swanctl(args);
  }

  async listSas(): Promise<SwanIkeSa[]> {
    const r = await this.swanctl(['--list-sas', '--pretty']);
    if (!r.ok) throw new Error(`swanctl --list-sas failed: ${r.stderr}`);
    return parseListSas(r.stdout);
  }

  /** Waits until `pred(listSas())` holds; returns the SAs that satisfied it. */
  async waitForSas(pred: (sas: SwanIkeSa[]) => boolean, what: string, timeoutMs = 15_000): Promise<SwanIkeSa[]> {
    let last: SwanIkeSa[] = [];
    await waitFor(async () => pred((last = await this.listSas())), `${what} (strongSwan in ${this.ns})`, timeoutMs, 100);
    return last;
  }

  /** charon's file log (ike/chd level 4: includes SK_* and child keys). */
  log(): string {
    const f = path.join(this.dir, 'charon.log');
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  /** The hex dumps in charon's log (see parseLogDumps), optionally only those with `label`. */
  logDumps(label?: string): SwanLogDump[] {
    const all = parseLogDumps(this.log());
    return label === undefined ? all : all.filter((d) => d.label === label);
  }

  /** IKE SA keys charon derived, in order (initial SA, then rekeys). */
  ikeKeys(): SwanIkeKeys[] {
    return ikeKeysFromLog(this.log());
  }

  /** CHILD SA keys with their SPIs, in order of establishment. */
  childKeys(): SwanChildKeys[] {
    return childKeysFromLog(this.log());
  }

  /** Ends charon by PID (SIGTERM, then SIGKILL) and removes its directory. */
  async stop(): Promise<void> {
    await this.lab.stop(this.proc);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Kills charon abruptly (SIGKILL) to simulate a dead peer; stop() still cleans up. */
  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}
