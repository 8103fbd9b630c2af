import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { ownedTempDir } from './harness-util.js';
import { TestPki, type CertFiles } from './certs.js';
import type { StoreSpec } from '../../src/store/open-store.js';
import { memberCertFiles } from '../../src/pki/etcd-admin.js';

/**
 * A real etcd cluster (Debian's etcd 3.4) for tests: N members on 127.0.0.1 with free ports and
 * their own data directories in one temp dir, optionally with TLS (certificates made here with
 * OpenSSL: a CA, one server certificate per member, and client certificates on demand).
 *
 *   const etcd = await EtcdCluster.start({ members: 3 });
 *   etcd.endpoints            // ['127.0.0.1:PORT', ...]
 *   await etcd.kill(await etcd.leader());
 *   await etcd.close();       // every process ended by PID, every directory removed
 *
 * Every member is SIGKILLed if the test process exits without close().
 */

export interface EtcdClusterOptions {
  members?: number;
  tls?: boolean;
  /** TLS with these certificates instead of the helper's own test CA (implies `tls`). */
  certs?: EtcdCertSource;
  /** etcd's --election-timeout (ms); the heartbeat is a tenth of it. Default 1000. */
  electionTimeoutMs?: number;
  /** How long start() waits for a healthy cluster (ms). Default 20000. */
  startTimeoutMs?: number;
  /** The subject alternative names of the members' certificates from the test CA. Default 127.0.0.1 and localhost. */
  memberSans?: string[];
}

export interface EtcdMember {
  index: number;
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  logFile: string;
  process: ChildProcess | undefined;
}

export interface EtcdClientCert {
  cert: string;
  key: string;
}

/**
 * Where a TLS cluster's certificates come from: by default a test CA made here with OpenSSL
 * (client certificates on demand); `adminDirCerts` uses an etcd admin directory made by the
 * product (`etcd init`), whose CA then issues the nodes' and the operator's identities.
 */
export interface EtcdCertSource {
  readonly caPath: string;
  /** The server + peer certificate of member `name` (SANs 127.0.0.1 and localhost). */
  memberCert(name: string): EtcdClientCert;
  /** A client certificate of CN `cn` (`root` is what the helper itself uses). */
  clientCert(cn: string): EtcdClientCert;
  cleanup(): void;
}

function testCaCerts(memberSans: string[]): EtcdCertSource {
  const pki = new TestPki('oit-etcd-certs');
  const ca = pki.createCa('etcd-ca', { dn: 'CN=etcd test CA' });
  const made = new Map<string, CertFiles>();
  const once = (id: string, make: () => CertFiles): EtcdClientCert => {
    let c = made.get(id);
    if (!c) made.set(id, (c = make()));
    return { cert: c.certPath, key: c.keyPath };
  };
  return {
    caPath: ca.certPath,
    memberCert: (name) => once(`member ${name}`, () => pki.issue(ca, `member-${name}`, { dn: `CN=${name}`, sans: memberSans })),
    clientCert: (cn) => once(`client ${cn}`, () => pki.issue(ca, `client-${made.size}`, { dn: `CN=${cn}` })),
    cleanup: () => pki.cleanup(),
  };
}

/**
 * The certificates of an etcd admin directory (`initEtcdAdmin` with members named m0, m1, … on
 * 127.0.0.1): only the root client certificate is there; other identities are issued with the
 * product's own calls (issueCredentials). The directory belongs to the caller.
 */
export function adminDirCerts(dir: string): EtcdCertSource {
  return {
    caPath: path.join(dir, 'ca.pem'),
    memberCert: (name) => memberCertFiles(dir, name),
    clientCert: (cn) => {
      if (cn !== 'root') throw new Error(`etcd admin directory ${dir}: no file certificate for ${cn} (issue credentials instead)`);
      return { cert: path.join(dir, 'root.pem'), key: path.join(dir, 'root-key.pem') };
    },
    cleanup: () => {},
  };
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) if (p.pid && p.exitCode === null) try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
});

/** A free TCP port on 127.0.0.1 (bound, read, released: the kernel will not hand it out again at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function exited(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => p.once('exit', () => resolve()));
}

export class EtcdCluster {
  readonly dir: string;
  readonly members: EtcdMember[] = [];
  private certs: EtcdCertSource | undefined;

  private constructor(private readonly o: Required<Omit<EtcdClusterOptions, 'certs'>> & Pick<EtcdClusterOptions, 'certs'>) {
    this.dir = ownedTempDir('oit-etcd');
  }

  static async start(o: EtcdClusterOptions = {}): Promise<EtcdCluster> {
    const c = new EtcdCluster({ members: o.members ?? 1, tls: (o.tls ?? false) || o.certs !== undefined, certs: o.certs, electionTimeoutMs: o.electionTimeoutMs ?? 1000, startTimeoutMs: o.startTimeoutMs ?? 20_000, memberSans: o.memberSans ?? ['127.0.0.1', 'localhost'] });
    try {
      await c.boot();
    } catch (err) {
      await c.close();
      throw err;
    }
    return c;
  }

  get tls(): boolean {
    return this.o.tls;
  }

  private get scheme(): string {
    return this.o.tls ? 'https' : 'http';
  }

  /** Client endpoints, HOST:PORT. */
  get endpoints(): string[] {
    return this.members.map((m) => `127.0.0.1:${m.clientPort}`);
  }

  /** PEM path of the CA that signed the members' (and clients') certificates. */
  get caPath(): string {
    if (!this.certs) throw new Error('etcd test cluster: started without TLS');
    return this.certs.caPath;
  }

  /** A client certificate (CN = `cn`) from the cluster's CA, made once per name. */
  clientCert(cn: string): EtcdClientCert {
    if (!this.certs) throw new Error('etcd test cluster: started without TLS');
    return this.certs.clientCert(cn);
  }

  /** A StoreSpec for this cluster (TLS clusters: with a client certificate of CN `root`, or `cn`). */
  storeSpec(o: { prefix?: string; cn?: string; callTimeoutMs?: number } = {}): StoreSpec {
    const spec: StoreSpec = { kind: 'etcd', endpoints: this.endpoints, prefix: o.prefix ?? '/overlay-ipsec/default' };
    if (this.o.tls) spec.tls = { ca: this.caPath, ...this.clientCert(o.cn ?? 'root') };
    if (o.callTimeoutMs !== undefined) spec.callTimeoutMs = o.callTimeoutMs;
    return spec;
  }

  private async boot(): Promise<void> {
    if (this.o.tls) this.certs = this.o.certs ?? testCaCerts(this.o.memberSans);
    for (let i = 0; i < this.o.members; i++) {
      const dataDir = path.join(this.dir, `m${i}`);
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      this.members.push({ index: i, name: `m${i}`, clientPort: await freePort(), peerPort: await freePort(), dataDir, logFile: path.join(this.dir, `m${i}.log`), process: undefined });
    }
    for (const m of this.members) this.spawnMember(m);
    await this.waitHealthy(this.members, this.o.startTimeoutMs);
  }

  private spawnMember(m: EtcdMember): void {
    const s = this.scheme;
    const cluster = this.members.map((x) => `${x.name}=${s}://127.0.0.1:${x.peerPort}`).join(',');
    const args = [
      '--name', m.name, '--data-dir', m.dataDir,
      '--listen-client-urls', `${s}://127.0.0.1:${m.clientPort}`, '--advertise-client-urls', `${s}://127.0.0.1:${m.clientPort}`,
      '--listen-peer-urls', `${s}://127.0.0.1:${m.peerPort}`, '--initial-advertise-peer-urls', `${s}://127.0.0.1:${m.peerPort}`,
      '--initial-cluster', cluster, '--initial-cluster-token', path.basename(this.dir), '--initial-cluster-state', 'new',
      '--heartbeat-interval', String(Math.max(10, Math.round(this.o.electionTimeoutMs / 10))), '--election-timeout', String(this.o.electionTimeoutMs),
      '--logger', 'zap', '--log-outputs', 'stderr', '--log-level', 'warn',
    ];
    if (this.certs) {
      const cert = this.certs.memberCert(m.name);
      args.push('--cert-file', cert.cert, '--key-file', cert.key, '--trusted-ca-file', this.certs.caPath, '--client-cert-auth');
      args.push('--peer-cert-file', cert.cert, '--peer-key-file', cert.key, '--peer-trusted-ca-file', this.certs.caPath, '--peer-client-cert-auth');
    }
    const log = openSync(m.logFile, 'a');
    // A clean environment: ETCD_* variables of the machine must not change what the test starts.
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    const p = spawn('/usr/bin/etcd', args, { stdio: ['ignore', log, log], env });
    closeSync(log);
    live.add(p);
    p.once('exit', () => live.delete(p));
    m.process = p;
  }

  /** GETs /health (or POSTs a gRPC-gateway call) on one member; undefined if it does not answer. */
  private request(m: EtcdMember, urlPath: string, body?: string, timeoutMs = 1000): Promise<string | undefined> {
    return new Promise((resolve) => {
      const opts: https.RequestOptions = { host: '127.0.0.1', port: m.clientPort, path: urlPath, method: body === undefined ? 'GET' : 'POST', timeout: timeoutMs, headers: { 'content-type': 'application/json' } };
      if (this.certs) {
        const root = this.certs.clientCert('root');
        Object.assign(opts, { servername: 'localhost', ca: readFileSync(this.certs.caPath), cert: readFileSync(root.cert), key: readFileSync(root.key) });
      }
      const req = (this.o.tls ? https : http).request(opts, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve(res.statusCode === 200 ? text : undefined));
        res.on('error', () => resolve(undefined));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(undefined));
      req.end(body);
    });
  }

  private async healthy(m: EtcdMember): Promise<boolean> {
    const t = await this.request(m, '/health');
    return t !== undefined && /"health"\s*:\s*"true"/.test(t);
  }

  /** Waits until every given member reports healthy (it has a leader and answers). */
  async waitHealthy(members: EtcdMember[] = this.running(), timeoutMs = 20_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (const m of members) {
      while (!(await this.healthy(m))) {
        if (m.process && (m.process.exitCode !== null || m.process.signalCode !== null)) throw new Error(`etcd member ${m.name} exited: ${this.logTail(m)}`);
        if (Date.now() > until) throw new Error(`etcd member ${m.name} not healthy after ${timeoutMs} ms: ${this.logTail(m)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  logTail(m: EtcdMember): string {
    try {
      return readFileSync(m.logFile, 'utf8').split('\n').slice(-5).join('\n');
    } catch {
      return '(no log)';
    }
  }

  running(): EtcdMember[] {
    return this.members.filter((m) => m.process && m.process.exitCode === null && m.process.signalCode === null);
  }

  /** The member that leads now (asked of the running members through etcd's own status call). */
  async leader(timeoutMs = 10_000): Promise<EtcdMember> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const ids = new Map<string, EtcdMember>();
      let leaderId: string | undefined;
      for (const m of this.running()) {
        const t = await this.request(m, '/v3/maintenance/status', '{}');
        if (!t) continue;
        const st = JSON.parse(t) as { header?: { member_id?: string }; leader?: string };
        if (st.header?.member_id) ids.set(st.header.member_id, m);
        if (st.leader && st.leader !== '0') leaderId = st.leader;
      }
      const l = leaderId ? ids.get(leaderId) : undefined;
      if (l) return l;
      if (Date.now() > until) throw new Error(`etcd test cluster: no leader after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGKILL to one member, by PID; resolves once it is gone. */
  async kill(m: EtcdMember): Promise<void> {
    const p = m.process;
    if (!p?.pid) return;
    try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
    await exited(p);
  }

  /** SIGTERM to one member (a clean stop), SIGKILL after 5 s. */
  async stop(m: EtcdMember): Promise<void> {
    const p = m.process;
    if (!p?.pid || p.exitCode !== null || p.signalCode !== null) return;
    try { process.kill(p.pid, 'SIGTERM'); } catch { /* gone */ }
    const t = setTimeout(() => { try { process.kill(p.pid!, 'SIGKILL'); } catch { /* gone */ } }, 5000);
    await exited(p);
    clearTimeout(t);
  }

  /** Starts a stopped or killed member again on its data directory, ports and certificates. */
  async restart(m: EtcdMember, o: { waitHealthy?: boolean } = {}): Promise<void> {
    if (this.running().includes(m)) return;
    this.spawnMember(m);
    if (o.waitHealthy ?? true) await this.waitHealthy([m]);
  }

  /** Compacts the key-value history up to the current revision (what an operator's etcd does on a schedule). */
  async compact(): Promise<number> {
    const m = this.running()[0];
    if (!m) throw new Error('etcd test cluster: no member running');
    const t = await this.request(m, '/v3/kv/range', JSON.stringify({ key: Buffer.from('\0').toString('base64'), limit: 1 }));
    const rev = Number((JSON.parse(t ?? '{}') as { header?: { revision?: string } }).header?.revision);
    if (!rev) throw new Error('etcd test cluster: could not read the current revision');
    const r = await this.request(m, '/v3/kv/compaction', JSON.stringify({ revision: String(rev), physical: true }), 10_000);
    if (r === undefined) throw new Error(`etcd test cluster: compaction at ${rev} failed`);
    return rev;
  }

  /** Ends every member (SIGKILL, by PID) and removes every directory this cluster made. */
  async close(): Promise<void> {
    for (const m of this.members) await this.kill(m);
    rmSync(this.dir, { recursive: true, force: true });
    this.certs?.cleanup();
  }
}
