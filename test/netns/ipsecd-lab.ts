import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { NetnsLab, waitFor } from '../helpers/netns.js';
import { cliPath } from '../helpers/paths.js';
import { controlRequest } from '../../src/host/control-client.js';
import type { StatusJson } from '../../src/host/status.js';

/**
 * Two hosts for ipsecd tests: namespaces <prefix>-a and <prefix>-b joined by a veth
 * (198.18.0.1/24 on va, 198.18.0.2/24 on vb), IPv6 off so the link carries only what we send,
 * and "pod" addresses 10.1.0.1 (a) and 10.2.0.1 (b) on loopback for tunnel-mode traffic.
 */
export const A = { underlay: '198.18.0.1', pod: '10.1.0.1', podNet: '10.1.0.0/24', veth: 'va' } as const;
export const B = { underlay: '198.18.0.2', pod: '10.2.0.1', podNet: '10.2.0.0/24', veth: 'vb' } as const;

export interface Keys {
  spiAB: number;
  spiBA: number;
  keyAB: Buffer;
  keyBA: Buffer;
}

export function newKeys(spiAB = 0x00001001, spiBA = 0x00002002): Keys {
  return { spiAB, spiBA, keyAB: randomBytes(36), keyBA: randomBytes(36) };
}

const hex = (b: Buffer): string => `"0x${b.toString('hex')}"`;
const spi = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

/** A manual connection block as a user would write it. `self` is 'a' or 'b'. */
export function manualConn(name: string, self: 'a' | 'b', mode: 'tunnel' | 'transport', k: Keys, localTs: string[], remoteTs: string[]): string {
  const [me, peer] = self === 'a' ? [A, B] : [B, A];
  const [spiOut, spiIn, keyOut, keyIn] = self === 'a' ? [k.spiAB, k.spiBA, k.keyAB, k.keyBA] : [k.spiBA, k.spiAB, k.keyBA, k.keyAB];
  const list = (l: string[]): string => `[${l.map((t) => JSON.stringify(t)).join(', ')}]`;
  return `  ${name}:
    local_addrs: [${me.underlay}]
    remote_addrs: [${peer.underlay}]
    manual:
      mode: ${mode}
      local_ts: ${list(localTs)}
      remote_ts: ${list(remoteTs)}
      spi_out: ${spi(spiOut)}
      spi_in: ${spi(spiIn)}
      key_out: ${hex(keyOut)}
      key_in: ${hex(keyIn)}
`;
}

export interface Daemon {
  proc: ChildProcess;
  control: string;
  keylog: string;
  log: string;
  stderr: () => string;
  exit: Promise<number | null>;
}

export class IpsecdLab {
  readonly lab: NetnsLab;
  readonly a: string;
  readonly b: string;
  readonly dir: string;

  constructor(prefix: string) {
    this.lab = new NetnsLab(prefix);
    this.dir = mkdtempSync(path.join(tmpdir(), `${prefix}-`));
    this.a = this.lab.addNs('a');
    this.b = this.lab.addNs('b');
    for (const ns of [this.a, this.b]) {
      this.lab.exec(ns, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1']);
      this.lab.exec(ns, ['sysctl', '-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1']);
    }
    this.lab.veth(this.a, A.veth, `${A.underlay}/24`, this.b, B.veth, `${B.underlay}/24`);
    this.lab.exec(this.a, ['ip', 'addr', 'add', `${A.pod}/32`, 'dev', 'lo']);
    this.lab.exec(this.b, ['ip', 'addr', 'add', `${B.pod}/32`, 'dev', 'lo']);
  }

  /** Writes a config file for one side and returns its path. */
  writeConfig(self: string, body: string, tunName = 'oi0'): string {
    const file = path.join(this.dir, `${self}.yaml`);
    writeFileSync(file, `connections:\n${body}tun: { name: ${tunName} }\n`);
    return file;
  }

  /** Starts `overlay-ipsec ipsecd` in a namespace (a, b, or another of this lab's) and waits until its control socket answers. */
  async startDaemon(self: string, config: string, ns = self === 'a' ? this.a : self === 'b' ? this.b : `${this.lab.prefix}-${self}`): Promise<Daemon> {
    const control = path.join(this.dir, `${self}.sock`);
    const keylog = path.join(this.dir, `keylog-${self}`);
    const log = path.join(this.dir, `${self}.log`);
    const proc = this.lab.spawn(ns, [process.execPath, cliPath, 'ipsecd', '--config', config, '--keylog', keylog, '--control', control, '--log', log]);
    let err = '';
    proc.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    let exited = false;
    void exit.then(() => { exited = true; });
    await waitFor(async () => {
      if (exited) throw new Error(`ipsecd in ${ns} exited early: ${err}${existsSync(log) ? readFileSync(log, 'utf8') : ''}`);
      if (!existsSync(control)) return false;
      try {
        return (await controlRequest(control, { cmd: 'status' }, 1000)).ok;
      } catch {
        return false;
      }
    }, `ipsecd in ${ns} to serve ${control}`, 15_000);
    return { proc, control, keylog, log, stderr: () => err, exit };
  }

  async status(d: Daemon): Promise<StatusJson> {
    const r = await controlRequest(d.control, { cmd: 'status' });
    if (!r.ok) throw new Error(r.error);
    return r.status as StatusJson;
  }

  /** Starts tcpdump on a namespace's veth, writing `file`; resolves once it listens. */
  async capture(ns: string, dev: string, file: string): Promise<ChildProcess & { report: () => string }> {
    const p = this.lab.spawn(ns, ['tcpdump', '-i', dev, '-n', '-U', '--immediate-mode', '-B', '32768', '-s', '0', '-w', file]);
    let err = '';
    p.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    await waitFor(() => err.includes('listening on'), `tcpdump on ${dev} in ${ns}`, 10_000, 50);
    // tcpdump's closing lines ("N packets captured … M dropped by kernel") explain a short capture.
    return Object.assign(p, { report: () => err });
  }

  /**
   * Stops a capture once it has caught up: tcpdump on a busy machine lags behind the kernel's
   * ring, and SIGTERM drops what it has not read yet. Waits until the file stops growing.
   */
  async stopCapture(p: ChildProcess, file: string): Promise<void> {
    let last = -1;
    let stableSince = Date.now();
    await waitFor(() => {
      const size = existsSync(file) ? statSync(file).size : 0;
      if (size !== last) {
        last = size;
        stableSince = Date.now();
      }
      return Date.now() - stableSince >= 750;
    }, `capture ${file} to settle`, 20_000, 50);
    await this.lab.stop(p);
  }

  async cleanup(): Promise<void> {
    await this.lab.cleanup();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Python helpers for scapy snippets (prepend to a snippet): scapy's SecurityAssociation seals and
 * opens ESP with AES-GCM (key ‖ salt, auth NULL); the UDP 4500 wrapping is done by hand because
 * scapy 2.5's nat_t_header leaves the UDP length at 8.
 */
export const PY_ESP = `
import socket, time, os
from scapy.all import IP, UDP, ICMP, Raw
from scapy.layers.ipsec import SecurityAssociation, ESP

def sa(spi, key_hex, src, dst):
    return SecurityAssociation(ESP, spi=spi, crypt_algo='AES-GCM', crypt_key=bytes.fromhex(key_hex),
                               auth_algo='NULL', tunnel_header=IP(src=src, dst=dst))

def sealed_esp(sa_, inner, seq):
    """The ESP bytes (SPI … ICV) scapy makes for an inner IP packet, tunnel mode."""
    return bytes(sa_.encrypt(inner, seq_num=seq)[ESP])

def open_esp(sa_, src, dst, esp_bytes):
    """scapy's decryption (ICV checked) of ESP bytes carried in UDP 4500."""
    return sa_.decrypt(IP(src=src, dst=dst, proto=50) / ESP(esp_bytes))

def udp4500(local):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((local, 4500))
    return s
`;

/** A: print every datagram that reaches 10.1.0.1:7777 (the "application" behind the TUN). */
export const RECEIVER = `
import dgram from 'node:dgram';
const s = dgram.createSocket('udp4');
s.on('message', (m, r) => process.stdout.write(JSON.stringify({ from: r.address, data: m.toString() }) + '\\n'));
s.bind(7777, '${A.pod}', () => process.stdout.write('ready\\n'));
`;
