import { access, constants } from 'node:fs/promises';
import type { Command } from 'commander';
import { loadStoreConfig, openStore, parseStoreOption, StoreSpecError, storeDir, type Store, type StoreSpec } from '../store/index.js';
import { UsageError } from '../util/errors.js';

/**
 * The store options every command that meets the cluster takes (operator, agent, pki, up), read
 * in one place so they mean the same everywhere:
 *
 *   (none)                       the directory store in <state-dir>/store
 *   --store etcd://H:P[,H:P…]    etcd, with --etcd-ca/--etcd-cert/--etcd-key for TLS and
 *                                --store-cluster for the key prefix /overlay-ipsec/<name>
 *   --store dir:PATH             the directory store at PATH
 *   --store-config FILE          a store config file or join file (endpoints, cluster, TLS)
 *
 * A bad value is a UsageError naming the option (exit 2).
 */

export interface StoreFlags {
  store?: string;
  storeConfig?: string;
  storeCluster?: string;
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
}

export function addStoreOptions(cmd: Command): Command {
  return cmd
    .option('--store <url>', 'the control-plane store: etcd://HOST:PORT[,HOST:PORT…] or dir:PATH (default: the directory store in <state-dir>/store)')
    .option('--store-config <file>', 'a store config or join file (YAML: endpoints, cluster, tls) instead of --store')
    .option('--store-cluster <name>', 'etcd: keep this cluster\'s keys under /overlay-ipsec/<name> (default: default)')
    .option('--etcd-ca <file>', 'etcd: TLS, trusting the etcd members\' CA in this PEM file')
    .option('--etcd-cert <file>', 'etcd: client certificate (PEM) for mutual TLS, with --etcd-key')
    .option('--etcd-key <file>', 'etcd: the client certificate\'s private key (PEM)');
}

/** The StoreSpec the flags name; the directory store under `stateDir` when they name none. */
export async function storeSpecFromFlags(o: StoreFlags, stateDir: string): Promise<StoreSpec> {
  const etcdOnly = (['storeCluster', 'etcdCa', 'etcdCert', 'etcdKey'] as const).filter((k) => o[k] !== undefined);
  const flag = (k: string): string => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  try {
    if (o.store !== undefined && o.storeConfig !== undefined) throw new UsageError('--store and --store-config: give one of them');
    if (o.storeConfig !== undefined) {
      if (etcdOnly.length) throw new UsageError(`${flag(etcdOnly[0]!)}: with --store-config, put it in the file`);
      const spec = await loadStoreConfig(o.storeConfig);
      await checkTlsFiles(spec, (k) => `${o.storeConfig}: tls.${k}`);
      return spec;
    }
    if (o.store === undefined) {
      if (etcdOnly.length) throw new UsageError(`${flag(etcdOnly[0]!)}: only with --store etcd://HOST:PORT`);
      return { kind: 'fs', dir: storeDir(stateDir) };
    }
    const spec = parseStoreOption(o.store, { option: '--store', ...(o.storeCluster !== undefined ? { cluster: o.storeCluster } : {}) });
    if (spec.kind === 'fs') {
      if (etcdOnly.length) throw new UsageError(`${flag(etcdOnly[0]!)}: only with --store etcd://HOST:PORT`);
      return spec;
    }
    if (o.etcdCert !== undefined && o.etcdKey === undefined) throw new UsageError('--etcd-cert: needs --etcd-key (the certificate\'s private key)');
    if (o.etcdKey !== undefined && o.etcdCert === undefined) throw new UsageError('--etcd-key: needs --etcd-cert');
    if ((o.etcdCert !== undefined) && o.etcdCa === undefined) throw new UsageError('--etcd-cert: needs --etcd-ca (TLS to etcd checks the members against it)');
    if (o.etcdCa !== undefined) spec.tls = { ca: o.etcdCa, ...(o.etcdCert !== undefined ? { cert: o.etcdCert, key: o.etcdKey! } : {}) };
    await checkTlsFiles(spec, (k) => `--etcd-${k}`);
    return spec;
  } catch (err) {
    if (err instanceof StoreSpecError) throw new UsageError(err.message);
    throw err;
  }
}

/** TLS files that cannot be read are a usage error naming where they were given, before any daemon starts. */
async function checkTlsFiles(spec: StoreSpec, where: (k: 'ca' | 'cert' | 'key') => string): Promise<void> {
  if (spec.kind !== 'etcd' || !spec.tls) return;
  for (const k of ['ca', 'cert', 'key'] as const) {
    const file = spec.tls[k];
    if (file === undefined) continue;
    await access(file, constants.R_OK).catch((err: NodeJS.ErrnoException) => {
      throw new UsageError(`${where(k)} ${file}: cannot read it (${err.code ?? err.message})`);
    });
  }
}

/** Opens the store a spec names; unreadable TLS files and the like are usage errors naming them. */
export async function openStoreForCli(spec: StoreSpec): Promise<Store> {
  try {
    return await openStore(spec);
  } catch (err) {
    if (err instanceof StoreSpecError) throw new UsageError(err.message);
    throw err;
  }
}

/** The command-line flags that name this spec again (for `up`, which starts daemons with it). */
export function storeFlagsOf(spec: StoreSpec, configFile?: string): string[] {
  if (configFile !== undefined) return ['--store-config', configFile];
  if (spec.kind === 'fs') return ['--store', `dir:${spec.dir}`];
  const args = ['--store', `etcd://${spec.endpoints.join(',')}`];
  const cluster = /^\/overlay-ipsec\/([^/]+)$/.exec(spec.prefix)?.[1];
  if (cluster === undefined) throw new Error(`store prefix ${spec.prefix} has no --store-cluster form; use a store config file`);
  if (cluster !== 'default') args.push('--store-cluster', cluster);
  if (spec.tls?.ca) args.push('--etcd-ca', spec.tls.ca);
  if (spec.tls?.cert && spec.tls.key) args.push('--etcd-cert', spec.tls.cert, '--etcd-key', spec.tls.key);
  return args;
}
