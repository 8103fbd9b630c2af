import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from '../helpers/netns.js';
import { StrongSwan, type SwanConnection, type SwanIkeSa } from '../helpers/strongswan.js';
import { TestPki, type CertFiles } from '../helpers/certs.js';
import { A, B, IpsecdLab, type Daemon } from '../netns/ipsecd-lab.js';
import type { StatusJson } from '../../src/host/status.js';
import { controlRequest } from '../../src/host/control-client.js';

/**
 * Our daemon (the built CLI) in namespace a, strongSwan 5.9.8 (kernel-libipsec) in namespace b,
 * tunnel mode 10.1.0.0/24 ⇄ 10.2.0.0/24. One PKI (a CA, RSA and ECDSA certificates for both ends,
 * a foreign CA, an expired certificate) serves every case.
 */
export const OURS_ID = 'ours.example';
export const SWAN_ID = 'swan.example';

export interface OurConnOptions {
  cert: CertFiles;
  remoteId?: string;
  proposals?: string[];
  esp?: string[];
  startAction?: 'start' | 'trap' | 'none';
  dpd?: string;
  rekeyTime?: string;
  childRekeyTime?: string;
}

export class SwanLab {
  readonly L: IpsecdLab;
  readonly pki: TestPki;
  readonly ca: CertFiles;
  readonly otherCa: CertFiles;
  readonly certs: Record<string, CertFiles> = {};
  daemon: Daemon | undefined;
  swan: StrongSwan | undefined;

  constructor(prefix: string) {
    this.pki = new TestPki(`${prefix}-pki`);
    this.ca = this.pki.createCa('ca', { dn: 'C=XX, O=Lab, CN=ipsecd Interop CA', keyType: 'ecdsa' });
    this.otherCa = this.pki.createCa('other', { dn: 'C=XX, O=Elsewhere, CN=Other CA', keyType: 'ecdsa' });
    for (const kt of ['ecdsa', 'rsa'] as const) {
      this.certs[`ours-${kt}`] = this.pki.issue(this.ca, `ours-${kt}`, { dn: `C=XX, O=Lab, CN=${OURS_ID}`, keyType: kt, sans: [OURS_ID] });
      this.certs[`swan-${kt}`] = this.pki.issue(this.ca, `swan-${kt}`, { dn: `C=XX, O=Lab, CN=${SWAN_ID}`, keyType: kt, sans: [SWAN_ID] });
    }
    this.certs['ours-foreign'] = this.pki.issue(this.otherCa, 'ours-foreign', { dn: `C=XX, O=Lab, CN=${OURS_ID}`, keyType: 'ecdsa', sans: [OURS_ID] });
    const longAgo = new Date(Date.now() - 400 * 86_400_000);
    this.certs['swan-expired'] = this.pki.issue(this.ca, 'swan-expired', { dn: `C=XX, O=Lab, CN=${SWAN_ID}`, keyType: 'ecdsa', sans: [SWAN_ID], notBefore: longAgo, notAfter: new Date(longAgo.getTime() + 30 * 86_400_000) });
    this.L = new IpsecdLab(prefix);
  }

  ourConfig(o: OurConnOptions): string {
    const list = (l: string[]): string => `[${l.join(', ')}]`;
    // Short retransmission so that a dead peer is given up on in seconds (strongSwan's own is ~2 min).
    const file = this.L.writeConfig('a', `  site:
    local_addrs: [${A.underlay}]
    remote_addrs: [${B.underlay}]
    local: { auth: pubkey, cert: ${o.cert.certPath}, key: ${o.cert.keyPath}, id: ${OURS_ID} }
    remote: { auth: pubkey, id: "${o.remoteId ?? SWAN_ID}" }
    ca: [${this.ca.certPath}]
    proposals: ${list(o.proposals ?? ['aes256gcm16-prfsha256-ecp256'])}
    dpd_delay: ${o.dpd ?? '0s'}
    rekey_time: ${o.rekeyTime ?? '4h'}
    children:
      net:
        mode: tunnel
        local_ts: [${A.podNet}]
        remote_ts: [${B.podNet}]
        esp_proposals: ${list(o.esp ?? ['aes256gcm16'])}
        start_action: ${o.startAction ?? 'start'}
        rekey_time: ${o.childRekeyTime ?? '1h'}
`);
    writeFileSync(file, `retransmit: { timeout: 1s, tries: 2, base: 1.5 }\n${readFileSync(file, 'utf8')}`);
    return file;
  }

  swanConn(cert: CertFiles, over: Partial<SwanConnection> = {}, startAction: 'start' | 'trap' | 'none' = 'none'): SwanConnection {
    return {
      name: 'site', localAddrs: [B.underlay], remoteAddrs: [A.underlay],
      local: { auth: 'pubkey', id: SWAN_ID, certPem: cert.certPem, keyPem: cert.keyPem },
      remote: { auth: 'pubkey', id: OURS_ID },
      caPems: [this.ca.certPem],
      children: [{ name: 'net', localTs: [B.podNet], remoteTs: [A.podNet], startAction }],
      ...over,
    };
  }

  /** Fresh strongSwan and daemon (strongSwan first, so that our start_action start finds it). */
  async start(ours: OurConnOptions, swan: SwanConnection, charonExtra?: string[]): Promise<{ d: Daemon; s: StrongSwan }> {
    await this.stopBoth();
    this.swan = await StrongSwan.start({ lab: this.L.lab, ns: this.L.b, name: 'oit-ik-swan', connections: [swan], ...(charonExtra ? { charonExtra } : {}) });
    this.daemon = await this.L.startDaemon('a', this.ourConfig(ours));
    return { d: this.daemon, s: this.swan };
  }

  async stopBoth(): Promise<void> {
    if (this.daemon) await this.L.lab.stop(this.daemon.proc);
    this.daemon = undefined;
    await this.swan?.stop();
    this.swan = undefined;
  }

  async status(): Promise<StatusJson> {
    return this.L.status(this.daemon!);
  }

  async control(cmd: 'initiate' | 'rekey' | 'terminate', child?: string): Promise<void> {
    const r = await controlRequest(this.daemon!.control, { cmd, conn: 'site', ...(child ? { child } : {}) });
    if (!r.ok) throw new Error(`${cmd}: ${r.error}`);
  }

  /** The messages of our --log (pino JSON lines), the libreswan-style lines among them. */
  ourLines(): string[] {
    return this.ourLog().split('\n').filter((l) => l.startsWith('{')).map((l) => String((JSON.parse(l) as { msg?: string }).msg ?? ''));
  }

  ourLog(): string {
    return existsSync(this.daemon!.log) ? readFileSync(this.daemon!.log, 'utf8') : '';
  }

  /** Both ends agree: our ESTABLISHED IKE SA with one child, strongSwan's with the child INSTALLED. */
  async waitUp(what: string, timeoutMs = 15_000): Promise<{ st: StatusJson; sw: SwanIkeSa }> {
    let st!: StatusJson;
    let sw: SwanIkeSa | undefined;
    await waitFor(async () => {
      st = await this.status();
      const sas = await this.swan!.listSas();
      sw = sas.find((s) => s.state === 'ESTABLISHED' && s.children.some((c) => c.state === 'INSTALLED'));
      return !!sw && st.ike_sas.some((s) => s.state === 'ESTABLISHED' && s.children.length > 0);
    }, `${what}: SAs up on both sides\nours: ${this.daemon ? this.ourLog().slice(-3000) : ''}`, timeoutMs, 200);
    return { st, sw: sw! };
  }

  ping(count: number, intervalS = 0.2): { sent: number; received: number } {
    const r = this.L.lab.exec(this.L.a, ['ping', '-n', '-q', '-c', String(count), '-i', String(intervalS), '-W', '1', B.pod], { check: false, timeoutMs: 60_000 });
    const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
    return { sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0) };
  }

  async cleanup(): Promise<void> {
    await this.stopBoth();
    await this.L.cleanup();
    this.pki.cleanup();
  }

  keylogDir(): string {
    return path.join(this.L.dir, 'keylog-a');
  }
}
