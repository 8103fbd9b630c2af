import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { formatDiagnostic, toConfigError, validateFiles, type NetworkConfig } from '../config/index.js';
import { cidrSize, parseCidr } from '../wire/address.js';
import { UsageError } from '../util/errors.js';

/**
 * The config `up` hands the operator: the seed's two files shipped in `examples/` unless the user
 * gives their own, copied into `<state>/config/` (so a restarted operator reads the same thing),
 * with `--no-ipsec` written into the Network manifest as `ipsecConfig: {mode: Disabled}`.
 */

const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export const DEFAULT_CONFIG_FILES = [
  path.join(PACKAGE_ROOT, 'examples', 'install-config.yaml'),
  path.join(PACKAGE_ROOT, 'examples', 'manifests', 'cluster-network-03-config.yml'),
];

export interface PreparedConfig {
  /** The copies, as given to the operator. */
  files: string[];
  network: NetworkConfig;
  warnings: string[];
}

/**
 * Copies and validates the config. A bad file throws ConfigError (exit 2) naming the file, the key
 * and the fix — the user's file name, not the copy's.
 */
export async function prepareConfig(sources: readonly string[], dir: string, o: { noIpsec: boolean; underlayMtu: number; underlayCidr: string }): Promise<PreparedConfig> {
  await mkdir(dir, { recursive: true });
  // Validate the user's files as they are first, so messages name them.
  const original = await validateFiles([...sources], { underlayMtu: o.underlayMtu, underlayCidrs: [o.underlayCidr] });
  if (original.errors.length) throw toConfigError(original.errors[original.errors.length - 1]!);

  const files: string[] = [];
  for (const [i, src] of sources.entries()) {
    const base = path.basename(src);
    const dst = path.join(dir, files.some((f) => path.basename(f) === base) ? `${i}-${base}` : base);
    if (o.noIpsec && (await isNetworkManifest(src))) await writeFile(dst, await withIpsecDisabled(src));
    else await copyFile(src, dst);
    files.push(dst);
  }
  const r = o.noIpsec ? await validateFiles(files, { underlayMtu: o.underlayMtu, underlayCidrs: [o.underlayCidr] }) : original;
  if (r.errors.length || !r.network) throw toConfigError(r.errors[r.errors.length - 1] ?? { severity: 'error', file: files.join(' '), key: '', problem: 'no network config in these files' });
  return { files, network: r.network, warnings: r.warnings.map(formatDiagnostic) };
}

async function isNetworkManifest(file: string): Promise<boolean> {
  try {
    const doc = parseDocument(await readFile(file, 'utf8'));
    return doc.get('kind') === 'Network';
  } catch {
    return false;
  }
}

/** The manifest's text with `spec.defaultNetwork.ovnKubernetesConfig.ipsecConfig` = `{mode: Disabled}`. */
async function withIpsecDisabled(file: string): Promise<string> {
  const doc = parseDocument(await readFile(file, 'utf8'));
  doc.setIn(['spec', 'defaultNetwork', 'ovnKubernetesConfig', 'ipsecConfig'], doc.createNode({ mode: 'Disabled' }));
  return doc.toString();
}

/**
 * Whether the cluster asked for fits the config and the underlay: a /hostPrefix of the first
 * cluster network per node (the local cluster addresses its pods from that one) and an underlay
 * address per node. Checked before anything is built, with what would fit and how to make room.
 */
export function checkClusterSize(nodes: number, network: NetworkConfig, sources: readonly string[], underlayCidr: string): void {
  const cn = network.clusterNetwork[0]!;
  const cluster = parseCidr(cn.cidr);
  const subnets = cluster.ok ? 2 ** Math.max(0, cn.hostPrefix - cluster.cidr.prefix) : 0;
  if (nodes > subnets) {
    throw new UsageError(`${nodes} nodes need ${nodes} node subnets, but clusterNetwork ${cn.cidr} with hostPrefix ${cn.hostPrefix} holds ${subnets} ` +
      `(from ${sources.map((f) => path.basename(f)).join(' + ')}); ask for at most ${subnets} nodes, or give --config with a larger clusterNetwork cidr or a longer hostPrefix`);
  }
  const underlay = parseCidr(underlayCidr);
  const addresses = underlay.ok ? cidrSize(underlay.cidr) - 2 : 0;
  if (nodes > addresses) throw new UsageError(`${nodes} nodes need ${nodes} underlay addresses, but the local underlay ${underlayCidr} holds ${addresses}; ask for at most ${addresses} nodes`);
}
