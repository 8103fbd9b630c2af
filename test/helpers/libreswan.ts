import { type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type ExecResult, type NetnsLab, sh, waitFor } from './netns.js';
import { ownedTempDir, runAsync } from './harness-util.js';

/**
 * libreswan 4.10 pluto as an IKE test peer inside a namespace of a test's NetnsLab. libreswan
 * conflicts with strongSwan's packages, so it runs from /opt/libreswan (scripts/install-deps.sh
 * unpacks it there). On this kernel pluto cannot install ESP (no XFRM ESP): IKE_SA_INIT and
 * IKE_AUTH complete, the CHILD SA does not. As initiator it would then drop the IKE SA and give
 * up, so it runs with `--impair revival` by default (retry instead).
 */
export const LIBRESWAN_BIN = '/opt/libreswan/usr/libexec/ipsec';

export interface LsConnection {
  name: string;
  /** Our address (left) and the peer's (right). */
  left: string;
  right: string;
  /** libreswan id syntax: '@name' for a FQDN (a bare name would be resolved), a DN, or an IP. */
  leftId?: string;
  rightId?: string;
  /** 'psk' (authby=secret), or signatures with a certificate: 'ecdsa' / 'rsasig'. */
  auth: 'psk' | 'ecdsa' | 'rsasig';
  psk?: string;
  /** Our certificate and key (PEM); imported into the NSS db under the connection's name. */
  certPem?: string;
  keyPem?: string;
  /** rightca: '%same' (default: the CA that issued our certificate), '%any', or a CA's DN. */
  rightCa?: string;
  /** CAs trusted for the peer's certificate (PEM), imported with trust 'CT,,'. */
  caPems?: string[];
  /** Default 'aes_gcm256-sha2_256;modp2048'. */
  ike?: string;
  /** Default 'aes_gcm256'. */
  esp?: string;
  type?: 'tunnel' | 'transport';
  leftSubnet?: string;
  rightSubnet?: string;
  /** e.g. '1h', '30s'. */
  ikeLifetime?: string;
  saLifetime?: string;
  rekeyMargin?: string;
  dpdDelay?: string;
  dpdTimeout?: string;
  retransmitTimeout?: string;
  encapsulation?: 'yes' | 'no' | 'auto';
  /** Default 'add' (loaded, not started). */
  auto?: 'add' | 'start' | 'ignore';
  /** Raw `key=value` lines added to the conn section. */
  extra?: string[];
}

export interface LibreswanOptions {
  lab: NetnsLab;
  ns: string;
  name?: string;
  connections: LsConnection[];
  /** pluto --impair options; default ['revival']. */
  impair?: string[];
  /** plutodebug; default 'base'. 'base,crypt,private' logs key material. */
  plutodebug?: string;
  startTimeoutMs?: number;
}

export interface LsState {
  serial: number;
  conn: string;
  /** e.g. STATE_V2_ESTABLISHED_IKE_SA, STATE_V2_ESTABLISHED_CHILD_SA, STATE_V2_PARENT_I1. */
  state: string;
  /** True for IKE SA states (parent SA), false for CHILD SAs. */
  ike: boolean;
  established: boolean;
  /** The text after the state (timers, newest, idle, …). */
  detail: string;
  line: string;
}

/** Parses `whack --showstates`: `000 #1: "conn":500 STATE_V2_ESTABLISHED_IKE_SA (…); …`. */
export function parseShowStates(text: string): LsState[] {
  const out: LsState[] = [];
  for (const line of text.split('\n')) {
    const m = /^(?:\d{3} )?#(\d+): "([^"]+)"(?:\[\d+\])?(?:[^ ]*) (STATE_\w+) ?(.*)$/.exec(line.trim());
    if (!m) continue;
    const state = m[3]!;
    const ike = /IKE_SA|PARENT|_IKE_|V2_(?:INIT|ESTABLISHED_IKE|REKEY_IKE)/.test(state) && !/CHILD/.test(state);
    out.push({ serial: Number(m[1]), conn: m[2]!, state, ike, established: /ESTABLISHED/.test(state), detail: m[4] ?? '', line: line.trim() });
  }
  return out;
}

function confLines(c: LsConnection): string[] {
  const l: string[] = [`conn ${c.name}`, '    ikev2=insist', `    left=${c.left}`, `    right=${c.right}`];
  const idLine = (k: string, v: string | undefined): void => {
    if (v !== undefined) l.push(`    ${k}=${/[\s,]/.test(v) ? `"${v}"` : v}`);
  };
  idLine('leftid', c.leftId);
  idLine('rightid', c.rightId);
  if (c.auth === 'psk') {
    l.push('    authby=secret');
  } else {
    // rightca also makes pluto send CERTREQ, without which strongSwan (send_cert=ifasked) sends no CERT.
    l.push(`    leftauth=${c.auth}`, `    rightauth=${c.auth}`, `    leftcert=${c.name}`, `    rightca=${c.rightCa ?? '%same'}`);
  }
  l.push(`    ike=${c.ike ?? 'aes_gcm256-sha2_256;modp2048'}`, `    esp=${c.esp ?? 'aes_gcm256'}`, `    type=${c.type ?? 'tunnel'}`);
  if (c.leftSubnet) l.push(`    leftsubnet=${c.leftSubnet}`);
  if (c.rightSubnet) l.push(`    rightsubnet=${c.rightSubnet}`);
  if (c.ikeLifetime) l.push(`    ikelifetime=${c.ikeLifetime}`);
  if (c.saLifetime) l.push(`    salifetime=${c.saLifetime}`);
  if (c.rekeyMargin) l.push(`    rekeymargin=${c.rekeyMargin}`);
  if (c.dpdDelay) l.push(`    dpddelay=${c.dpdDelay}`);
  if (c.dpdTimeout) l.push(`    dpdtimeout=${c.dpdTimeout}`);
  if (c.retransmitTimeout) l.push(`    retransmit-timeout=${c.retransmitTimeout}`);
  l.push(`    encapsulation=${c.encapsulation ?? 'auto'}`, `    auto=${c.auto ?? 'add'}`);
  for (const x of c.extra ?? []) l.push(`    ${x}`);
  return l;
}

export interface WhackResult extends ExecResult {
  ok: boolean;
}

export class Libreswan {
  private constructor(
    readonly lab: NetnsLab,
    readonly ns: string,
    /** Temp dir: ipsec.conf, ipsec.secrets, nss/, run/ (pluto.ctl), pluto.log. */
    readonly dir: string,
    private readonly proc: ChildProcess,
  ) {}

  get pid(): number {
    return this.proc.pid!;
  }

  get ctlSocket(): string {
    return path.join(this.dir, 'run', 'pluto.ctl');
  }

  /** Builds the NSS db and config, starts pluto in `ns`, waits until every connection is loaded. */
  static async start(o: LibreswanOptions): Promise<Libreswan> {
    if (!existsSync(path.join(LIBRESWAN_BIN, 'pluto'))) {
      throw new Error(`libreswan is not unpacked in /opt/libreswan: run scripts/install-deps.sh as root`);
    }
    const dir = ownedTempDir(`oit-ls-${o.name ?? o.ns}`);
    let proc: ChildProcess | undefined;
    try {
      const nss = path.join(dir, 'nss');
      mkdirSync(path.join(dir, 'run'), { recursive: true });
      mkdirSync(nss);
      sh(['certutil', '-N', '-d', `sql:${nss}`, '--empty-password']);
      const secrets: string[] = [];
      for (const c of o.connections) {
        if (c.auth === 'psk') {
          if (!c.psk) throw new Error(`libreswan harness: connection ${c.name}: authby=secret needs psk`);
          secrets.push(`${c.leftId ?? c.left} ${c.rightId ?? c.right} : PSK "${c.psk.replace(/"/g, '\\"')}"`);
        } else {
          if (!c.certPem || !c.keyPem) throw new Error(`libreswan harness: connection ${c.name}: ${c.auth} needs certPem and keyPem`);
          const base = path.join(dir, c.name);
          writeFileSync(`${base}.cert.pem`, c.certPem);
          writeFileSync(`${base}.key.pem`, c.keyPem, { mode: 0o600 });
          sh(['openssl', 'pkcs12', '-export', '-inkey', `${base}.key.pem`, '-in', `${base}.cert.pem`, '-name', c.name,
            '-passout', 'pass:', '-out', `${base}.p12`]);
          sh(['pk12util', '-i', `${base}.p12`, '-d', `sql:${nss}`, '-W', '']);
          (c.caPems ?? []).forEach((pem, i) => {
            const f = `${base}.ca${i}.pem`;
            writeFileSync(f, pem);
            sh(['certutil', '-A', '-n', `${c.name}-ca${i}`, '-t', 'CT,,', '-d', `sql:${nss}`, '-a', '-i', f]);
          });
        }
      }
      const conf = [
        'config setup',
        `    logfile=${path.join(dir, 'pluto.log')}`,
        '    logappend=no',
        `    plutodebug=${o.plutodebug ?? 'base'}`,
        '',
        ...o.connections.flatMap((c) => [...confLines(c), '']),
      ];
      writeFileSync(path.join(dir, 'ipsec.conf'), conf.join('\n'));
      writeFileSync(path.join(dir, 'ipsec.secrets'), secrets.join('\n') + '\n', { mode: 0o600 });
      const impair = (o.impair ?? ['revival']).flatMap((i) => ['--impair', i]);
      const out = openSync(path.join(dir, 'pluto.stdout'), 'w');
      try {
        proc = o.lab.spawn(o.ns, [
          path.join(LIBRESWAN_BIN, 'pluto'), '--nofork', '--config', path.join(dir, 'ipsec.conf'),
          '--rundir', path.join(dir, 'run'), '--dumpdir', path.join(dir, 'run'), '--nssdir', nss,
          '--secretsfile', path.join(dir, 'ipsec.secrets'), '--ipsecdir', dir, '--no-dnssec',
          ...impair, '--logfile', path.join(dir, 'pluto.log'),
        ], { stdio: ['ignore', out, out] });
      } finally {
        closeSync(out);
      }
      const p = proc;
      const ls = new Libreswan(o.lab, o.ns, dir, p);
      const timeout = o.startTimeoutMs ?? 10_000;
      await waitFor(() => existsSync(ls.ctlSocket) || p.exitCode !== null, `pluto's control socket in ${o.ns}`, timeout, 50);
      if (p.exitCode !== null) throw new Error(`pluto in ${o.ns} exited with ${p.exitCode}: ${readFileSync(path.join(dir, 'pluto.stdout'), 'utf8')}`);
      // pluto runs addconn itself after it starts listening; wait until every conn is known.
      await waitFor(async () => {
        const s = (await ls.whack(['--status'])).stdout;
        return o.connections.every((c) => s.includes(`"${c.name}":`));
      }, `pluto to load ${o.connections.map((c) => c.name).join(', ')}`, timeout, 100);
      return ls;
    } catch (e) {
      if (proc) await o.lab.stop(proc);
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** Runs whack against this pluto's control socket. */
  async whack(args: string[], timeoutMs = 30_000): Promise<WhackResult> {
    const r = await runAsync([path.join(LIBRESWAN_BIN, 'whack'), '--ctlsocket', this.ctlSocket, ...args], { timeoutMs });
    return { ...r, ok: r.code === 0 };
  }

  /** Starts a connection. Asynchronous by default: with no ESP on this kernel the full result never arrives. */
  initiate(conn: string, o: { wait?: boolean; timeoutMs?: number } = {}): Promise<WhackResult> {
    return this.whack(['--name', conn, '--initiate', ...(o.wait ? [] : ['--asynchronous'])], o.timeoutMs ?? 30_000);
  }

  terminate(conn: string): Promise<WhackResult> {
    return this.whack(['--name', conn, '--terminate']);
  }

  rekeyIke(conn: string): Promise<WhackResult> {
    return this.whack(['--name', conn, '--rekey-ike', '--asynchronous']);
  }

  rekeyChild(conn: string): Promise<WhackResult> {
    return this.whack(['--name', conn, '--rekey-ipsec', '--asynchronous']);
  }

  /** Sends a fault injection (see `pluto --impair help`), e.g. 'corrupt-encrypted'. */
  impair(what: string, conn?: string): Promise<WhackResult> {
    return this.whack([...(conn ? ['--name', conn] : []), '--impair', what]);
  }

  async showStates(): Promise<LsState[]> {
    return parseShowStates((await this.whack(['--showstates'])).stdout);
  }

  /** The established IKE SA states, optionally for one connection. */
  async establishedIke(conn?: string): Promise<LsState[]> {
    return (await this.showStates()).filter((s) => s.ike && s.established && (!conn || s.conn === conn));
  }

  async waitForStates(pred: (s: LsState[]) => boolean, what: string, timeoutMs = 15_000): Promise<LsState[]> {
    let last: LsState[] = [];
    await waitFor(async () => pred((last = await this.showStates())), `${what} (pluto in ${this.ns})`, timeoutMs, 100);
    return last;
  }

  async status(): Promise<string> {
    return (await this.whack(['--status'])).stdout;
  }

  log(): string {
    const f = path.join(this.dir, 'pluto.log');
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  /** pluto's log without the debug lines ("| …"): the events a person would read. */
  events(): string[] {
    return this.log().split('\n').filter((l) => l && !/^[A-Z][a-z]{2} [ \d]\d [\d:.]+: \|/.test(l));
  }

  /**
   * How many times pluto logged an IKE SA as established ("initiator established IKE SA" /
   * "responder established IKE SA"). As initiator pluto deletes the IKE SA right after, when the
   * kernel refuses its ESP SA, so the log is where its success shows.
   */
  ikeEstablishedCount(conn?: string): number {
    return this.events().filter((l) => /established IKE SA/.test(l) && (!conn || l.includes(`"${conn}"`))).length;
  }

  /** Ends pluto by PID (SIGTERM, then SIGKILL) and removes its directory. */
  async stop(): Promise<void> {
    await this.lab.stop(this.proc);
    rmSync(this.dir, { recursive: true, force: true });
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}
