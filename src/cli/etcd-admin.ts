import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { adminDirHelp, adminDirOf, atEtcd, loadAdmin } from './etcd-admin-dir.js';
import { registerNodeRemove } from './node-remove.js';
import { DAY_MS } from '../pki/time.js';
import { FileExistsError, writeCredentialsFile } from '../store/join-file.js';
import { checkNodeName } from '../store/layout.js';
import { clusterOfPrefix } from '../store/etcd-identity.js';
import { OperationFailed, UsageError } from '../util/errors.js';

/**
 * The administrator's etcd commands: `etcd init` (the etcd CA, the root and member certificates),
 * `etcd bootstrap` (users, roles, auth on; the operator's credentials) and `node join-file` (one
 * node's credentials). They hold the etcd CA key and root; the daemons never do.
 */

/** The etcd CA and root side (an X.509 library and the etcd client), loaded by the commands that use it. */
const adminPki = () => import('../pki/etcd-admin.js');

const HOST_PORT = /^[A-Za-z0-9.-]+:[0-9]{1,5}$/;

/** `365d`, `12h`, `30m`, `90s` → milliseconds. */
export function parseDuration(option: string, text: string): number {
  const m = /^([0-9]+)(d|h|m|s)$/.exec(text);
  if (!m || Number(m[1]) === 0) throw new UsageError(`${option}: "${text}" is not a duration like 365d, 12h, 30m or 90s`);
  return Number(m[1]) * { d: DAY_MS, h: 3_600_000, m: 60_000, s: 1000 }[m[2] as 'd'];
}

/** Refused before anything is made in etcd: an existing file is only replaced with --force. */
function refuseExisting(option: string, file: string, force: boolean | undefined): void {
  if (!force && existsSync(file)) throw new UsageError(`${option}: ${file} exists; pass --force to replace it`);
}

async function write(file: string, doc: Parameters<typeof writeCredentialsFile>[1], force: boolean): Promise<void> {
  try {
    await writeCredentialsFile(file, doc, { force });
  } catch (err) {
    if (err instanceof FileExistsError) throw new UsageError(`--out: ${err.message}`);
    throw new OperationFailed(`${file}: cannot write it (${(err as Error).message})`);
  }
}

export function registerEtcdAdmin(program: Command): void {
  const etcd = program.command('etcd').description('The administrator\'s side of the etcd control plane: certificates, users and roles, auth');

  etcd
    .command('init')
    .description('Make an etcd admin directory: a new etcd CA (separate from the IPsec CA), the root client certificate and a server/peer certificate per member')
    .requiredOption('--admin-dir <dir>', 'where to keep them (CA key and root key 0600); must not hold a CA yet')
    .requiredOption('--member <name=ip[,ip]...>', 'an etcd member and the addresses clients reach it on (repeat per member)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--cluster <name>', 'cluster name: keys go under /overlay-ipsec/<name>', 'default')
    .option('--client-port <port>', 'the members\' client port', '2379')
    .option('--json', 'print what was made as JSON')
    .action(async (o: { adminDir: string; member: string[]; cluster: string; clientPort: string; json?: boolean }) => {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(o.cluster)) throw new UsageError(`--cluster: "${o.cluster}" must be 1-63 letters, digits, '.', '_' or '-'`);
      const members = o.member.map((m) => {
        const r = /^([a-z0-9][a-z0-9-]{0,62})=([0-9.,]+)$/.exec(m);
        if (!r) throw new UsageError(`--member: "${m}" is not NAME=IP[,IP]`);
        return { name: r[1]!, ips: r[2]!.split(',').filter(Boolean) };
      });
      const endpoints = members.map((m) => `${m.ips[0]}:${o.clientPort}`);
      if (!endpoints.every((e) => HOST_PORT.test(e))) throw new UsageError(`--client-port: "${o.clientPort}" is not a port`);
      const dir = path.resolve(o.adminDir);
      const prefix = `/overlay-ipsec/${o.cluster}`;
      try {
        await (await adminPki()).initEtcdAdmin(dir, { cluster: o.cluster, prefix, endpoints }, members);
      } catch (err) {
        throw new UsageError(`--admin-dir: ${(err as Error).message}`);
      }
      const out = { admin_dir: dir, cluster: o.cluster, prefix, endpoints, members: members.map((m) => m.name) };
      process.stdout.write(o.json ? JSON.stringify(out) + '\n'
        : `etcd admin directory ${dir}: etcd CA, root certificate, member certificates for ${out.members.join(', ')}\n` +
          `copy members/<name>.pem, members/<name>-key.pem and ca.pem to each etcd host; keep ca-key.pem and root-key.pem here\n`);
    });

  etcd
    .command('bootstrap')
    .description('With root: create the operator\'s etcd user and role, make root certificate-only and enable auth (idempotent); write the operator\'s credentials file (0600)')
    .option('--admin-dir <dir>', adminDirHelp)
    .option('--state-dir <dir>', 'state directory (locates the default admin directory)')
    .requiredOption('--operator-out <file>', 'the operator\'s credentials file (give it to `overlay-ipsec operator --store-config FILE`)')
    .option('--expires-in <duration>', 'how long the operator\'s credentials last', '365d')
    .option('--force', 'replace an existing --operator-out file')
    .option('--json', 'print the result as JSON')
    .action(async (o: { adminDir?: string; stateDir?: string; operatorOut: string; expiresIn: string; force?: boolean; json?: boolean }) => {
      const ms = parseDuration('--expires-in', o.expiresIn);
      refuseExisting('--operator-out', path.resolve(o.operatorOut), o.force);
      const a = await loadAdmin(adminDirOf(o));
      await atEtcd(a, 'enabling etcd auth', async () => (await adminPki()).bootstrapEtcdAuth(a));
      const doc = await atEtcd(a, 'the operator\'s etcd user', async () => (await adminPki()).issueCredentials(a, { expiresAt: new Date(Date.now() + ms) }));
      await write(path.resolve(o.operatorOut), doc, o.force === true);
      const out = { user: doc.join.user, out: path.resolve(o.operatorOut), expires_at: doc.join.expires_at, endpoints: doc.endpoints, auth: 'enabled' };
      process.stdout.write(o.json ? JSON.stringify(out) + '\n' : `etcd auth enabled at ${a.endpoints.join(',')}; operator user ${doc.join.user}, credentials in ${out.out} (0600) until ${doc.join.expires_at}\n`);
    });
}

export function registerNodeCommands(program: Command): void {
  const node = program.command('node').description('The administrator\'s node commands: join files (etcd), removing a node (either store)');
  node
    .command('join-file')
    .description(
      'Make the file a node joins with: the etcd endpoints and CA, the node\'s own etcd credentials (a client certificate whose CN is its etcd user, ' +
        'allowed to write only that node\'s registration, CSR and liveness keys) and an expiry. Written 0600; never holds an IPsec key ' +
        '(the node makes its own). Give it to the node\'s `overlay-ipsec agent --store-config FILE`.',
    )
    .requiredOption('--node <name>', 'the node\'s name')
    .requiredOption('--out <file>', 'where to write the join file')
    .option('--admin-dir <dir>', adminDirHelp)
    .option('--state-dir <dir>', 'state directory (locates the default admin directory)')
    .option('--expires-in <duration>', 'how long the node\'s credentials last (365d, 12h, …)', '365d')
    .option('--force', 'replace an existing file')
    .option('--json', 'print {"node","user","out","expires_at","endpoints","prefix"}')
    .action(async (o: { node: string; out: string; adminDir?: string; stateDir?: string; expiresIn: string; force?: boolean; json?: boolean }) => {
      const bad = checkNodeName(o.node);
      if (bad) throw new UsageError(`--node: ${bad}`);
      const ms = parseDuration('--expires-in', o.expiresIn);
      refuseExisting('--out', path.resolve(o.out), o.force);
      const a = await loadAdmin(adminDirOf(o));
      const doc = await atEtcd(a, `etcd user for node ${o.node}`, async () => (await adminPki()).issueCredentials(a, { node: o.node, expiresAt: new Date(Date.now() + ms) }));
      const file = path.resolve(o.out);
      await write(file, doc, o.force === true);
      const out = { node: o.node, user: doc.join.user, out: file, expires_at: doc.join.expires_at, endpoints: doc.endpoints, prefix: doc.prefix, cluster: clusterOfPrefix(doc.prefix) };
      process.stdout.write(o.json ? JSON.stringify(out) + '\n' : `join file for node ${o.node} (etcd user ${doc.join.user}) in ${file} (0600), valid until ${doc.join.expires_at}\n`);
    });
  registerNodeRemove(node);
}
