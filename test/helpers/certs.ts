import { readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { isIPv4, isIPv6 } from 'node:net';
import { sh } from './netns.js';
import { ownedTempDir } from './harness-util.js';

/**
 * Test certificates made by outside tools — OpenSSL or strongSwan's `pki` — so that our own
 * certificate code is checked against someone else's encoder, never against itself.
 */
export type KeyType = 'rsa' | 'ecdsa';
export type CertTool = 'openssl' | 'pki';

export interface CertFiles {
  name: string;
  certPath: string;
  keyPath: string;
  certPem: string;
  keyPem: string;
  /** The subject DN as given ("C=XX, O=Lab, CN=x"). */
  dn: string;
  keyType: KeyType;
}

export interface CaOptions {
  dn: string;
  keyType?: KeyType;
  tool?: CertTool;
  notBefore?: Date;
  notAfter?: Date;
  pathLen?: number;
}

export interface IssueOptions {
  dn: string;
  keyType?: KeyType;
  tool?: CertTool;
  /** subjectAltNames: DNS names, IPv4/IPv6 addresses or user@domain (email). */
  sans?: string[];
  /** Default: one hour ago. */
  notBefore?: Date;
  /** Default: 365 days after notBefore. */
  notAfter?: Date;
  /** Make an intermediate CA (basicConstraints cA=TRUE). */
  ca?: boolean;
  pathLen?: number;
}

const DAY = 86_400_000;

/** "C=XX, O=Lab, CN=x" → "/C=XX/O=Lab/CN=x" for openssl -subj. */
function opensslSubject(dn: string): string {
  return '/' + dn.split(',').map((p) => p.trim().replace(/\//g, '\\/')).join('/');
}

/** OpenSSL `ca` dates: YYYYMMDDHHMMSSZ. */
function asn1Time(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** strongSwan pki with --dateform "%Y-%m-%d %H:%M:%S" (UTC: we run it with TZ=UTC). */
function pkiTime(d: Date): string {
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');
}

function sanKind(s: string): 'IP' | 'DNS' | 'email' {
  if (isIPv4(s) || isIPv6(s)) return 'IP';
  if (s.includes('@')) return 'email';
  return 'DNS';
}

export class TestPki {
  readonly dir: string;
  private readonly pkiConf: string;
  private serial = 0x1000;

  constructor(label = 'oit-certs') {
    this.dir = ownedTempDir(label);
    // pki loads strongswan.conf; a minimal one keeps it from loading the TPM plugin.
    this.pkiConf = path.join(this.dir, 'pki.conf');
    writeFileSync(this.pkiConf, 'pki {\n  load = random pem pkcs1 pkcs8 x509 openssl gmp sha1 sha2 mgf1\n}\n');
  }

  private pki(args: string[], input?: string): string {
    return sh(['env', `STRONGSWAN_CONF=${this.pkiConf}`, 'TZ=UTC', 'pki', ...args], { input }).stdout;
  }

  private genKey(name: string, keyType: KeyType, tool: CertTool): string {
    const keyPath = path.join(this.dir, `${name}.key.pem`);
    if (tool === 'pki') {
      const args = keyType === 'rsa' ? ['--type', 'rsa', '--size', '2048'] : ['--type', 'ecdsa', '--size', '256'];
      writeFileSync(keyPath, this.pki(['--gen', ...args, '--outform', 'pem']));
    } else {
      const args = keyType === 'rsa'
        ? ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']
        : ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
      sh(['openssl', 'genpkey', ...args, '-out', keyPath]);
    }
    return keyPath;
  }

  private files(name: string, dn: string, keyType: KeyType, certPath: string, keyPath: string): CertFiles {
    return { name, dn, keyType, certPath, keyPath, certPem: readFileSync(certPath, 'utf8'), keyPem: readFileSync(keyPath, 'utf8') };
  }

  /** A self-signed root CA. */
  createCa(name: string, o: CaOptions): CertFiles {
    const keyType = o.keyType ?? 'ecdsa';
    const tool = o.tool ?? 'openssl';
    const keyPath = this.genKey(name, keyType, tool);
    const certPath = path.join(this.dir, `${name}.cert.pem`);
    const notBefore = o.notBefore ?? new Date(Date.now() - 3600_000);
    const notAfter = o.notAfter ?? new Date(notBefore.getTime() + 3650 * DAY);
    if (tool === 'pki') {
      const args = ['--self', '--ca', '--in', keyPath, '--type', keyType, '--dn', o.dn,
        '--dateform', '%Y-%m-%d %H:%M:%S', '--not-before', pkiTime(notBefore), '--not-after', pkiTime(notAfter), '--outform', 'pem'];
      if (o.pathLen !== undefined) args.push('--pathlen', String(o.pathLen));
      writeFileSync(certPath, this.pki(args));
    } else {
      const ext = `basicConstraints=critical,CA:TRUE${o.pathLen !== undefined ? `,pathlen:${o.pathLen}` : ''}\n` +
        'keyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n';
      const csr = this.csr(name, keyPath, o.dn);
      this.opensslCa(['-selfsign', '-keyfile', keyPath, '-in', csr, '-out', certPath], ext, notBefore, notAfter);
    }
    return this.files(name, o.dn, keyType, certPath, keyPath);
  }

  /** A certificate issued by `ca` (a node, or an intermediate CA with `ca: true`). */
  issue(ca: CertFiles, name: string, o: IssueOptions): CertFiles {
    const keyType = o.keyType ?? 'ecdsa';
    const tool = o.tool ?? 'openssl';
    const keyPath = this.genKey(name, keyType, tool);
    const certPath = path.join(this.dir, `${name}.cert.pem`);
    const notBefore = o.notBefore ?? new Date(Date.now() - 3600_000);
    const notAfter = o.notAfter ?? new Date(notBefore.getTime() + 365 * DAY);
    const sans = o.sans ?? [];
    if (tool === 'pki') {
      const pub = this.pki(['--pub', '--in', keyPath, '--type', keyType, '--outform', 'pem']);
      const args = ['--issue', '--cacert', ca.certPath, '--cakey', ca.keyPath, '--dn', o.dn,
        '--dateform', '%Y-%m-%d %H:%M:%S', '--not-before', pkiTime(notBefore), '--not-after', pkiTime(notAfter),
        '--outform', 'pem', '--serial', (this.serial++).toString(16)];
      for (const s of sans) args.push('--san', s);
      if (o.ca) args.push('--ca');
      if (o.pathLen !== undefined) args.push('--pathlen', String(o.pathLen));
      if (!o.ca) args.push('--flag', 'serverAuth', '--flag', 'clientAuth');
      writeFileSync(certPath, this.pki(args, pub));
    } else {
      let ext = o.ca
        ? `basicConstraints=critical,CA:TRUE${o.pathLen !== undefined ? `,pathlen:${o.pathLen}` : ''}\nkeyUsage=critical,keyCertSign,cRLSign\n`
        : 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n';
      ext += 'subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n';
      if (sans.length) ext += `subjectAltName=${sans.map((s) => `${sanKind(s)}:${s}`).join(',')}\n`;
      const csr = this.csr(name, keyPath, o.dn);
      this.opensslCa(['-cert', ca.certPath, '-keyfile', ca.keyPath, '-in', csr, '-out', certPath], ext, notBefore, notAfter);
    }
    return this.files(name, o.dn, keyType, certPath, keyPath);
  }

  private csr(name: string, keyPath: string, dn: string): string {
    const csr = path.join(this.dir, `${name}.csr.pem`);
    sh(['openssl', 'req', '-new', '-key', keyPath, '-subj', opensslSubject(dn), '-out', csr]);
    return csr;
  }

  /** `openssl ca`: the OpenSSL 3.0 command that takes explicit start and end dates. */
  private opensslCa(args: string[], ext: string, notBefore: Date, notAfter: Date): void {
    const db = path.join(this.dir, 'ca-db');
    mkdirSync(path.join(db, 'new'), { recursive: true });
    const index = path.join(db, 'index.txt');
    writeFileSync(index, '');
    writeFileSync(path.join(db, 'serial'), (this.serial++).toString(16).padStart(4, '0') + '\n');
    const conf = path.join(db, 'ca.cnf');
    writeFileSync(conf, [
      '[ca]', 'default_ca = lab', '[lab]', `database = ${index}`, `new_certs_dir = ${path.join(db, 'new')}`,
      `serial = ${path.join(db, 'serial')}`, 'default_md = sha256', 'policy = any', 'unique_subject = no',
      'copy_extensions = none', 'preserve = yes', '[any]', 'countryName = optional', 'organizationName = optional',
      'organizationalUnitName = optional', 'commonName = supplied', 'emailAddress = optional', '',
    ].join('\n'));
    const extFile = path.join(db, 'ext.cnf');
    writeFileSync(extFile, ext);
    sh(['openssl', 'ca', '-batch', '-notext', '-config', conf, '-extfile', extFile,
      '-startdate', asn1Time(notBefore), '-enddate', asn1Time(notAfter), ...args]);
  }

  /** Concatenated PEM of several certificates (e.g. node then intermediate). */
  static chainPem(...certs: CertFiles[]): string {
    return certs.map((c) => c.certPem.trim()).join('\n') + '\n';
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
