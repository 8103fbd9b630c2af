import type { z } from 'zod';
import { Findings, type Diagnostic } from './diagnostics.js';
import { parseConfigText, type ParsedFile } from './parse.js';
import { installConfigSchema, networkCrSchema, ipsecModes, encapsulations } from './schema.js';
import { unknownKeys, formatPath } from './unknown-keys.js';
import { cidrOf } from '../wire/address.js';
import { checkOverlaps, clusterEntries, placeUnderlay, servicesAt, type Placed } from './networks.js';
import { describe } from '../util/describe.js';
import {
  type NetworkConfig,
  type ClusterNetworkEntry,
  type IpsecMode,
  type Encapsulation,
  ASSUMED_UNDERLAY_MTU,
  DEFAULT_CLUSTER_NETWORK,
  DEFAULT_SERVICE_NETWORK,
  ESP_UDP_OVERHEAD,
  GENEVE_OVERHEAD,
  MIN_POD_MTU,
  overheadFor,
} from './network.js';

export interface ValidateOptions {
  /** The hosts' underlay MTU, when known (`--underlay-mtu`, or read from the interface). */
  underlayMtu?: number;
  /** Underlay networks known from outside the files (`--underlay-cidr`). */
  underlayCidrs?: string[];
}

export interface ValidationResult {
  /** Present when there are no errors. */
  network?: NetworkConfig;
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

export function validateDocuments(docs: { file: string; text: string }[], opts: ValidateOptions = {}): ValidationResult {
  const f = new Findings();
  const parsed: ParsedFile[] = [];
  for (const d of docs) {
    const p = parseConfigText(d.file, d.text, f);
    if (p) parsed.push(p);
  }
  const installs = parsed.filter((p) => p.kind === 'install-config');
  const networks = parsed.filter((p) => p.kind === 'network');
  for (const extra of installs.slice(1)) f.error(extra.file, '', `a second install-config (the first is ${installs[0]!.file})`, 'pass one install-config.yaml');
  for (const extra of networks.slice(1)) f.error(extra.file, '', `a second Network manifest (the first is ${networks[0]!.file})`, 'pass one cluster-network-03-config.yml');

  const install = installs[0] && shapeCheck(installs[0], installConfigSchema, f);
  const network = networks[0] && shapeCheck(networks[0], networkCrSchema, f);
  if (f.errors.length) return { errors: f.errors, warnings: f.warnings };

  const cfg = buildNetwork(installs[0], install as z.infer<typeof installConfigSchema> | undefined, networks[0], network as z.infer<typeof networkCrSchema> | undefined, opts, f);
  if (f.errors.length || !cfg) return { errors: f.errors, warnings: f.warnings };
  return { network: cfg, errors: [], warnings: f.warnings };
}

function shapeCheck<S extends z.ZodType>(p: ParsedFile, schema: S, f: Findings): z.infer<S> | undefined {
  const r = schema.safeParse(p.value);
  if (!r.success) {
    for (const issue of r.error.issues) {
      const key = formatPath(issue.path as (string | number)[]);
      const got = valueAt(p.value, issue.path as (string | number)[]);
      f.error(p.file, key, `${issue.message}, got ${describe(got)}`, `correct ${key || 'the file'}`);
    }
    return undefined;
  }
  for (const u of unknownKeys(schema, p.value)) {
    const near = u.known.find((k) => k.toLowerCase() === u.key.toLowerCase() || editDistance(k, u.key) <= 2);
    f.warn(p.file, formatPath(u.path), `unknown key "${u.key}" is ignored`, near ? `did you mean "${near}"?` : `known keys here: ${u.known.join(', ')}`);
  }
  return r.data;
}

function valueAt(v: unknown, path: (string | number)[]): unknown {
  let cur = v;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) dp[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      dp[i]![j] = Math.min(dp[i - 1]![j]! + 1, dp[i]![j - 1]! + 1, dp[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return dp[a.length]![b.length]!;
}

function buildNetwork(
  installFile: ParsedFile | undefined,
  install: z.infer<typeof installConfigSchema> | undefined,
  netFile: ParsedFile | undefined,
  net: z.infer<typeof networkCrSchema> | undefined,
  opts: ValidateOptions,
  f: Findings,
): NetworkConfig | undefined {
  const placed: Placed[] = [];
  let clusterNetwork: ClusterNetworkEntry[] | undefined;
  let serviceNetwork: string[] | undefined;
  const machineNetwork: string[] = [];
  const sources = [installFile?.file, netFile?.file].filter((x): x is string => !!x);

  // ---- install-config.yaml
  if (installFile && install) {
    const file = installFile.file;
    const nw = install.networking;
    if (install.apiVersion !== undefined && install.apiVersion !== 'v1')
      f.error(file, 'apiVersion', `"${install.apiVersion}" is not an install-config version`, 'use apiVersion: v1');
    if (nw) {
      if (nw.networkType !== undefined && nw.networkType !== 'OVNKubernetes')
        f.error(file, 'networking.networkType', `"${nw.networkType}" cannot carry IPsec here`, 'set networkType: OVNKubernetes');
      if (nw.clusterNetworks && nw.clusterNetwork)
        f.error(file, 'networking.clusterNetworks', 'both clusterNetworks and clusterNetwork are set', 'keep one of them (clusterNetwork is the current name)');
      const cn = nw.clusterNetwork ?? nw.clusterNetworks;
      const cnKey = nw.clusterNetwork ? 'networking.clusterNetwork' : 'networking.clusterNetworks';
      if (cn) {
        if (cn.length === 0) f.error(file, cnKey, 'empty list', 'give at least one {cidr, hostPrefix}');
        clusterNetwork = clusterEntries(f, file, cnKey, cn, placed);
      }
      if (nw.serviceNetwork) {
        serviceNetwork = servicesAt(f, file, 'networking.serviceNetwork', nw.serviceNetwork, placed);
      }
      (nw.machineNetwork ?? []).forEach((m, i) => placeUnderlay(f, file, `networking.machineNetwork[${i}].cidr`, m.cidr, placed, machineNetwork));
      if (nw.machineCIDR !== undefined) placeUnderlay(f, file, 'networking.machineCIDR', nw.machineCIDR, placed, machineNetwork);
    }
    for (const [k, pool] of [['controlPlane', install.controlPlane] as const, ...(install.compute ?? []).map((p, i) => [`compute[${i}]`, p] as const)]) {
      if (pool?.replicas !== undefined && pool.replicas < 0) f.error(file, `${k}.replicas`, `${pool.replicas} is negative`, 'use 0 or more');
    }
  }

  // ---- cluster-network-03-config.yml
  let mtu: number | undefined;
  let genevePort = 6081;
  let mode: IpsecMode = 'Disabled';
  let encapsulation: Encapsulation = 'Auto';
  let mtuKeyFile: { file: string; key: string } | undefined;
  if (netFile && net) {
    const file = netFile.file;
    if (net.apiVersion !== 'operator.openshift.io/v1')
      f.error(file, 'apiVersion', `"${net.apiVersion}" is not the Network operator API`, 'use apiVersion: operator.openshift.io/v1');
    if (net.metadata?.name !== undefined && net.metadata.name !== 'cluster')
      f.error(file, 'metadata.name', `"${net.metadata.name}": the cluster network object must be named cluster`, 'set metadata.name: cluster');
    const spec = net.spec;
    if (spec.clusterNetwork) {
      const own: Placed[] = [];
      const cn = clusterEntries(f, file, 'spec.clusterNetwork', spec.clusterNetwork, own);
      if (clusterNetwork && JSON.stringify(cn) !== JSON.stringify(clusterNetwork))
        f.error(file, 'spec.clusterNetwork', `${JSON.stringify(cn)} differs from ${installFile!.file} networking.clusterNetwork ${JSON.stringify(clusterNetwork)}`, 'make them equal or drop spec.clusterNetwork');
      else if (!clusterNetwork) {
        clusterNetwork = cn;
        placed.push(...own);
      }
    }
    if (spec.serviceNetwork) {
      const own: Placed[] = [];
      const sn = servicesAt(f, file, 'spec.serviceNetwork', spec.serviceNetwork, own);
      if (serviceNetwork && JSON.stringify(sn) !== JSON.stringify(serviceNetwork))
        f.error(file, 'spec.serviceNetwork', `${JSON.stringify(sn)} differs from ${installFile!.file} networking.serviceNetwork ${JSON.stringify(serviceNetwork)}`, 'make them equal or drop spec.serviceNetwork');
      else if (!serviceNetwork) {
        serviceNetwork = sn;
        placed.push(...own);
      }
    }
    const dn = spec.defaultNetwork;
    if (dn?.type !== undefined && dn.type !== 'OVNKubernetes')
      f.error(file, 'spec.defaultNetwork.type', `"${dn.type}" cannot carry IPsec here`, 'set type: OVNKubernetes');
    const ovn = dn?.ovnKubernetesConfig;
    const base = 'spec.defaultNetwork.ovnKubernetesConfig';
    if (ovn) {
      if (ovn.genevePort !== undefined) {
        if (ovn.genevePort < 1 || ovn.genevePort > 65535) f.error(file, `${base}.genevePort`, `${ovn.genevePort} is not a UDP port number`, 'use 6081, the Geneve port');
        else if (ovn.genevePort === 500 || ovn.genevePort === 4500)
          f.error(file, `${base}.genevePort`, `${ovn.genevePort} is taken by IKE and ESP-in-UDP`, 'use 6081, the Geneve port');
        else genevePort = ovn.genevePort;
      }
      if (ovn.mtu !== undefined) {
        mtu = ovn.mtu;
        mtuKeyFile = { file, key: `${base}.mtu` };
      }
      if (ovn.ipsecConfig !== undefined && ovn.ipsecConfig !== null) {
        const ic = ovn.ipsecConfig;
        const k = `${base}.ipsecConfig`;
        if (ic.mode === undefined) mode = 'Full';
        else if (ic.mode === 'External') f.error(file, `${k}.mode`, 'External (IPsec only for traffic leaving the cluster) is not supported', 'use Full or Disabled');
        else if (typeof ic.mode === 'string' && (ipsecModes as readonly string[]).includes(ic.mode)) mode = ic.mode as IpsecMode;
        else {
          const near = typeof ic.mode === 'string' ? ipsecModes.find((m) => m.toLowerCase() === String(ic.mode).toLowerCase()) : undefined;
          f.error(file, `${k}.mode`, `${describe(ic.mode)} is not an IPsec mode`, near ? `write ${near}; the modes are case-sensitive` : 'use Full or Disabled');
        }
        if (ic.full !== undefined) {
          if (ic.mode !== undefined && ic.mode !== 'Full' && ic.mode !== 'External')
            f.error(file, `${k}.full`, `full settings given with mode ${describe(ic.mode)}`, 'set mode: Full or remove full');
          const e = ic.full.encapsulation;
          if (e !== undefined) {
            if (typeof e === 'string' && (encapsulations as readonly string[]).includes(e)) encapsulation = e as Encapsulation;
            else f.error(file, `${k}.full.encapsulation`, `${describe(e)} is not an encapsulation`, 'use Always or Auto');
          }
        }
      } else if (ovn.ipsecConfig === null) {
        // `ipsecConfig:` with nothing after it reads as null; OpenShift treats it as {} (Full).
        mode = 'Full';
      }
    }
  }

  // An ipsecConfig anywhere else is ignored by OpenShift, and the cluster would silently come up
  // without IPsec: that deserves an error, not an unknown-key warning.
  if (netFile) {
    for (const p of findKey(netFile.value, 'ipsecConfig'))
      if (p !== 'spec.defaultNetwork.ovnKubernetesConfig.ipsecConfig')
        f.error(netFile.file, p, 'ipsecConfig is not read here, so IPsec would be off', 'move it under spec.defaultNetwork.ovnKubernetesConfig; check the indentation');
  }
  if (installFile) for (const p of findKey(installFile.value, 'ipsecConfig')) f.error(installFile.file, p, 'install-config.yaml does not configure IPsec', 'put ipsecConfig in manifests/cluster-network-03-config.yml under spec.defaultNetwork.ovnKubernetesConfig');

  // ---- defaults and cross checks
  if (!clusterNetwork) clusterNetwork = [DEFAULT_CLUSTER_NETWORK];
  if (!serviceNetwork) serviceNetwork = [DEFAULT_SERVICE_NETWORK];
  (opts.underlayCidrs ?? []).forEach((u, i) => placeUnderlay(f, '--underlay-cidr', `[${i}]`, u, placed, machineNetwork, u));
  checkOverlaps(f, placed, clusterNetwork, sources[0] ?? '(defaults)');

  // Enough node subnets for the machines the install-config asks for.
  let replicas: NetworkConfig['replicas'];
  if (install && f.errors.length === 0) {
    const cp = install.controlPlane?.replicas ?? 3;
    const compute = (install.compute ?? []).reduce((s, p) => s + (p.replicas ?? 0), 0);
    replicas = { controlPlane: cp, compute };
    const capacity = clusterNetwork.reduce((s, e) => s + 2 ** (e.hostPrefix - cidrOf(e.cidr).prefix), 0);
    if (capacity < cp + compute && installFile)
      f.error(installFile.file, 'networking.clusterNetwork', `room for ${capacity} node subnets but ${cp + compute} machines are asked for`, 'use a larger cidr or a longer hostPrefix');
  }

  // MTU: the pod MTU plus Geneve (and ESP-in-UDP with IPsec) must fit the underlay.
  const overhead = overheadFor(mode);
  const overheadText = mode === 'Full' ? `${overhead} bytes of Geneve and ESP overhead` : `${overhead} bytes of Geneve overhead`;
  if (mtu !== undefined && mtuKeyFile) {
    if (mtu < MIN_POD_MTU) f.error(mtuKeyFile.file, mtuKeyFile.key, `${mtu} is below the minimum pod MTU ${MIN_POD_MTU}`, `use at least ${MIN_POD_MTU}`);
    else if (opts.underlayMtu !== undefined) {
      if (mtu + overhead > opts.underlayMtu)
        f.error(mtuKeyFile.file, mtuKeyFile.key, `${mtu} + ${overheadText} exceeds the underlay MTU ${opts.underlayMtu}`, `lower mtu to at most ${opts.underlayMtu - overhead}, or raise the underlay MTU to ${mtu + overhead}`);
    } else if (mtu + overhead > ASSUMED_UNDERLAY_MTU) {
      f.warn(mtuKeyFile.file, mtuKeyFile.key, `${mtu} + ${overheadText} needs an underlay MTU of at least ${mtu + overhead}; the underlay MTU is not known (an Ethernet underlay of ${ASSUMED_UNDERLAY_MTU} would not fit it)`, `check with --underlay-mtu N, or lower mtu to ${ASSUMED_UNDERLAY_MTU - overhead}`);
    }
  } else {
    mtu = (opts.underlayMtu ?? ASSUMED_UNDERLAY_MTU) - overhead;
  }
  if (opts.underlayMtu !== undefined && opts.underlayMtu < MIN_POD_MTU + overhead)
    f.error('--underlay-mtu', '', `${opts.underlayMtu} cannot carry a ${MIN_POD_MTU}-byte pod packet plus ${overheadText}`, `use an underlay MTU of at least ${MIN_POD_MTU + overhead}`);

  if (f.errors.length) return undefined;
  return {
    clusterNetwork,
    serviceNetwork,
    machineNetwork,
    mtu,
    genevePort,
    ipsec: { mode, encapsulation },
    ...(install?.metadata?.name ? { clusterName: install.metadata.name } : {}),
    ...(install?.baseDomain ? { baseDomain: install.baseDomain } : {}),
    ...(replicas ? { replicas } : {}),
    sources,
  };
}

function findKey(v: unknown, key: string, path = ''): string[] {
  if (v === null || typeof v !== 'object') return [];
  if (Array.isArray(v)) return v.flatMap((x, i) => findKey(x, key, `${path}[${i}]`));
  return Object.entries(v as Record<string, unknown>).flatMap(([k, x]) => {
    const p = path ? `${path}.${k}` : k;
    return [...(k === key ? [p] : []), ...findKey(x, key, p)];
  });
}

/**
 * What a running cluster may not change (`config apply`, or the operator restarted with other
 * files): the networks subnets and routes are made from, the pod MTU and the Geneve port. The
 * IPsec mode may change: the agents switch every node pair without losing a packet.
 */
export function checkTransition(stored: NetworkConfig, next: NetworkConfig): Diagnostic[] {
  const f = new Findings();
  const installFile = next.sources.find((s) => !/network/i.test(s)) ?? next.sources[0] ?? '(config)';
  const netFile = next.sources.find((s) => /network/i.test(s)) ?? next.sources[0] ?? '(config)';
  const ovn = 'spec.defaultNetwork.ovnKubernetesConfig';
  const fixed: [file: string, key: string, what: string, a: unknown, b: unknown][] = [
    [installFile, 'networking.clusterNetwork', 'node subnets are allocated from it', stored.clusterNetwork, next.clusterNetwork],
    [installFile, 'networking.serviceNetwork', 'pods and routes use it', stored.serviceNetwork, next.serviceNetwork],
    [installFile, 'networking.machineNetwork', 'nodes were placed in it', stored.machineNetwork, next.machineNetwork],
    [netFile, `${ovn}.mtu`, 'every pod and TUN was set up with it', stored.mtu, next.mtu],
    [netFile, `${ovn}.genevePort`, 'every node listens on it', stored.genevePort, next.genevePort],
  ];
  for (const [file, key, what, a, b] of fixed) {
    if (JSON.stringify(a) === JSON.stringify(b)) continue;
    f.error(file, key, `${JSON.stringify(b)} differs from the installed ${JSON.stringify(a)} and cannot change at run time (${what})`, `keep ${JSON.stringify(a)}`);
  }
  return f.errors;
}

export { GENEVE_OVERHEAD, ESP_UDP_OVERHEAD };
