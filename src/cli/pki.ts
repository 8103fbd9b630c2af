import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { defaultStateDir, CA_BUNDLE_KEY, CorruptDocumentError, StoreUnavailableError, type Store } from '../store/index.js';
import { addStoreOptions, openStoreForCli, storeSpecFromFlags, type StoreFlags } from './store-options.js';
import { enroll, EnrollmentRefused, EnrollmentTimeout } from '../pki/enroll.js';
import { IdentityError } from '../pki/node-identity.js';
import { clockFromEnv, DAY_MS } from '../pki/time.js';
import { OperationFailed, UsageError } from '../util/errors.js';

function daysLeft(notAfter: string, now: number): number {
  return Math.floor((Date.parse(notAfter) - now) / DAY_MS);
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => '  ' + r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

function clock(): () => number {
  try {
    return clockFromEnv();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** The store the flags name; the directory store must exist already (the operator makes it). */
async function openExisting(o: StoreFlags, stateDir: string): Promise<Store> {
  const spec = await storeSpecFromFlags(o, stateDir);
  if (spec.kind === 'fs' && !existsSync(spec.dir)) throw new UsageError(`--state-dir ${stateDir}: no store there (${spec.dir} missing); start \`overlay-ipsec operator --state-dir ${stateDir}\` first`);
  return openStoreForCli(spec);
}

/** What a store can fail with that is the operation's failure, not a bug: exit 1 with its message. */
function storeFailure(err: unknown): never {
  if (err instanceof CorruptDocumentError || err instanceof StoreUnavailableError) throw new OperationFailed(err.message);
  throw err;
}

export function registerPki(program: Command): void {
  const pki = program.command('pki').description('The cluster CA and node certificates');

  addStoreOptions(pki
    .command('show')
    .description('CA and node certificates: subject, serial, validity, days left, which node holds which')
    .option('--state-dir <dir>', 'state directory (default $OI_STATE_DIR or /var/lib/overlay-ipsec)')
    .option('--json', 'machine-readable output (PEM included)'))
    .action(async (o: StoreFlags & { stateDir?: string; json?: boolean }) => {
      const now = clock()();
      const store = await openExisting(o, o.stateDir ?? defaultStateDir());
      try {
        await showPki(store, now, o.json === true);
      } catch (err) {
        storeFailure(err);
      } finally {
        await store.close();
      }
    });
  registerEnroll(pki);
}

async function showPki(store: Store, now: number, json: boolean): Promise<void> {
  const bundle = await store.get('ca', CA_BUNDLE_KEY);
  // A damaged document is named on stderr and left out; the rest is still shown, and the
  // command then fails (exit 1) so a script notices.
  let damaged = 0;
  const skip = {
    onError: (err: Error) => {
      damaged++;
      process.stderr.write(`overlay-ipsec: ${err.message} (left out)\n`);
    },
  };
  const certs = await store.list('certificates', skip);
  const csrs = await store.list('csrs', skip);
  const subnets = await store.list('subnets', skip);
  const subnetOf = new Map(subnets.map((s) => [s.value.node, s.key]));
  const ca = (bundle?.value.cas ?? []).map((c) => ({
    subject: c.subject,
    serial: c.serial,
    not_before: c.not_before,
    not_after: c.not_after,
    pem: c.pem,
    fingerprint: c.fingerprint,
    state: c.state,
    days_left: daysLeft(c.not_after, now),
  }));
  const nodes = certs.map((c) => ({
    node: c.value.node,
    system_id: c.value.system_id,
    subject: c.value.subject,
    issuer: c.value.issuer,
    serial: c.value.serial,
    not_before: c.value.not_before,
    not_after: c.value.not_after,
    pem: c.value.pem,
    days_left: daysLeft(c.value.not_after, now),
    subnet: subnetOf.get(c.value.node) ?? null,
  }));
  const requests = csrs.map((c) => ({ node: c.key, status: c.value.status, submitted_at: c.value.submitted_at, ...(c.value.reason ? { reason: c.value.reason } : {}) }));
  if (json) process.stdout.write(JSON.stringify({ ca, nodes, phase: bundle?.value.phase ?? null, csrs: requests }, null, 2) + '\n');
  else process.stdout.write(pkiText(bundle?.value.phase, ca, nodes, requests));
  if (damaged) throw new OperationFailed(`${damaged} damaged store document${damaged > 1 ? 's' : ''} left out (named above)`);
}

function pkiText(
  phase: string | undefined,
  ca: { subject: string; serial: string; not_before: string; not_after: string; days_left: number; state: string }[],
  nodes: { node: string; system_id: string; serial: string; not_after: string; days_left: number; issuer: string; subnet: string | null }[],
  requests: { node: string; status: string; reason?: string }[],
): string {
  let out = `CA (${phase ? `rollover phase: ${phase}` : 'none yet: is the operator running?'})\n`;
  if (ca.length) out += table([['SUBJECT', 'SERIAL', 'NOT BEFORE', 'NOT AFTER', 'DAYS LEFT', 'STATE'], ...ca.map((c) => [c.subject, c.serial, c.not_before, c.not_after, String(c.days_left), c.state])]);
  out += `Nodes (${nodes.length})\n`;
  if (nodes.length)
    out += table([
      ['NODE', 'SYSTEM-ID', 'SERIAL', 'NOT AFTER', 'DAYS LEFT', 'ISSUER', 'SUBNET'],
      ...nodes.map((n) => [n.node, n.system_id, n.serial, n.not_after, String(n.days_left), n.issuer, n.subnet ?? '-']),
    ]);
  const refused = requests.filter((r) => r.status !== 'approved');
  if (refused.length) out += `Requests not approved\n` + table([['NODE', 'STATUS', 'REASON'], ...refused.map((r) => [r.node, r.status, r.reason ?? ''])]);
  return out;
}

function registerEnroll(pki: Command): void {
  addStoreOptions(pki
    .command('enroll')
    .description(
      'The node side of enrollment: registers the node, submits a CSR (a key made here, or --csr from elsewhere, ' +
        'e.g. openssl), waits for the operator and writes ipsec-cert.pem, ipsec-cacert.pem (and ipsec-privkey.pem, 0600). ' +
        'Exit 1 with the operator\'s reason when refused.',
    )
    .requiredOption('--node <name>', 'node name')
    .requiredOption('--state-dir <dir>', 'state directory: the node\'s own files (and the directory store, shared with the operator, unless --store names another)')
    .option('--csr <file>', 'submit this CSR (PEM) instead of making a key here')
    .option('--out <dir>', 'where to write the files (default <state-dir>/nodes/<name>)')
    .option('--timeout <s>', 'seconds to wait for the operator', '60')
    .option('--system-id <uuid>', 'the node\'s system-id, if it has none yet (default: a new UUID v4)')
    .option('--key-algorithm <alg>', 'key to make: rsa (2048) or ecdsa (P-256)', 'rsa')
    .option('--underlay-ip <addr>', 'the node\'s underlay address, recorded with its registration')
    .option('--json', 'print the result as JSON'))
    .action(async (o: StoreFlags & { node: string; stateDir: string; csr?: string; out?: string; timeout: string; systemId?: string; keyAlgorithm: string; underlayIp?: string; json?: boolean }) => {
      const timeout = Number(o.timeout);
      if (!Number.isFinite(timeout) || timeout <= 0) throw new UsageError(`--timeout: "${o.timeout}" is not a positive number of seconds`);
      if (o.keyAlgorithm !== 'rsa' && o.keyAlgorithm !== 'ecdsa') throw new UsageError(`--key-algorithm: "${o.keyAlgorithm}" is not rsa or ecdsa`);
      let csrPem: string | undefined;
      if (o.csr) {
        try {
          csrPem = await readFile(o.csr, 'utf8');
        } catch (err) {
          throw new UsageError(`--csr ${o.csr}: cannot read it (${(err as NodeJS.ErrnoException).code})`);
        }
      }
      const now = clock();
      const store = await openExisting(o, o.stateDir);
      try {
        const r = await enroll({
          store,
          stateDir: o.stateDir,
          node: o.node,
          timeoutMs: timeout * 1000,
          keyAlgorithm: o.keyAlgorithm,
          now,
          ...(csrPem !== undefined ? { csrPem } : {}),
          ...(o.out ? { outDir: path.resolve(o.out) } : {}),
          ...(o.systemId ? { systemId: o.systemId } : {}),
          ...(o.underlayIp ? { underlayIp: o.underlayIp } : {}),
        });
        const c = r.certificate;
        if (o.json)
          process.stdout.write(
            JSON.stringify({ node: c.node, system_id: c.system_id, serial: c.serial, subject: c.subject, issuer: c.issuer, not_before: c.not_before, not_after: c.not_after, cert: r.certPath, ca: r.caPath, key: r.keyPath ?? null }, null, 2) + '\n',
          );
        else
          process.stdout.write(
            `enrolled node ${c.node} (system-id ${c.system_id}): certificate serial ${c.serial}, valid ${c.not_before} to ${c.not_after}\n` +
              `  ${r.certPath}\n  ${r.caPath}\n${r.keyPath ? `  ${r.keyPath}\n` : ''}`,
          );
      } catch (err) {
        if (err instanceof EnrollmentRefused) throw new OperationFailed(err.message);
        if (err instanceof EnrollmentTimeout) throw new OperationFailed(err.message);
        if (err instanceof IdentityError) throw new UsageError(err.message);
        storeFailure(err);
      } finally {
        await store.close();
      }
    });
}
