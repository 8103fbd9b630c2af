import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { validateFiles, checkTransition, formatDiagnostic, type NetworkConfig } from '../config/index.js';
import { NETWORK_KEY, NETWORK_REQUEST_KEY, type DataplaneDoc, type NetworkDoc } from '../store/documents.js';
import { defaultStateDir } from '../store/layout.js';
import { addStoreOptions, openStoreForCli, storeSpecFromFlags, type StoreFlags } from './store-options.js';
import type { Store } from '../store/store.js';
import { OperationFailed, UsageError } from '../util/errors.js';
import { throwConfigErrors } from './config-errors.js';
import { interfaceMtu, parseMtu } from './underlay-mtu.js';
import { tryLoadClusterState } from '../cluster/state.js';
import { contentHash } from '../agent/desired.js';

/** Two configs the same in what the cluster runs on (not when applied, nor from which files). */
function sameConfig(a: NetworkConfig | NetworkDoc, b: NetworkConfig | NetworkDoc): boolean {
  const strip = (d: NetworkConfig | NetworkDoc) => ({ ...d, installed_at: undefined, applied_at: undefined, sources: undefined });
  return contentHash(strip(a)) === contentHash(strip(b));
}

/** What the install-config gives; a Network manifest applied alone keeps the installed values of these. */
const INSTALL_KEYS = ['clusterNetwork', 'serviceNetwork', 'machineNetwork', 'clusterName', 'baseDomain', 'replicas'] as const;
/** What the Network manifest gives; an install-config applied alone keeps the installed values of these. */
const NETWORK_CR_KEYS = ['mtu', 'genevePort', 'ipsec'] as const;

/** The config the files describe, over the installed one for the kind of file not given. */
async function nextConfig(files: string[], stored: NetworkDoc, network: NetworkConfig): Promise<NetworkConfig> {
  const kinds = await Promise.all(files.map(async (f) => (/^kind:\s*Network\s*$/m.test(await readFile(f, 'utf8')) ? 'network' : 'install')));
  const next: Record<string, unknown> = { ...network };
  const keep = (keys: readonly string[]): void => {
    for (const k of keys) {
      const v = (stored as Record<string, unknown>)[k];
      if (v === undefined) delete next[k];
      else next[k] = v;
    }
  };
  if (!kinds.includes('install')) keep(INSTALL_KEYS);
  if (!kinds.includes('network')) keep(NETWORK_CR_KEYS);
  return next as unknown as NetworkConfig;
}

interface NodeProgress {
  node: string;
  wanted: string;
  phase: string;
  pairs: Record<string, string>;
}

function progressOf(doc: DataplaneDoc | undefined, node: string): NodeProgress {
  return { node, wanted: doc?.wanted ?? '-', phase: doc?.phase ?? 'no report', pairs: Object.fromEntries(Object.entries(doc?.peers ?? {}).map(([p, v]) => [p, v.state])) };
}

/** Polls the nodes' reports until every registered node reports `mode` as its phase, or the deadline. */
async function waitForMode(store: Store, mode: string, timeoutMs: number, print: (line: string) => void): Promise<{ done: boolean; nodes: NodeProgress[] }> {
  const end = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const [nodes, reports] = await Promise.all([store.list('nodes'), store.list('dataplane')]);
    const byNode = new Map(reports.map((r) => [r.key, r.value]));
    const progress = nodes.map((n) => progressOf(byNode.get(n.key), n.key)).sort((a, b) => a.node.localeCompare(b.node));
    const line = progress.map((p) => `${p.node}=${p.phase}`).join(' ');
    if (line !== last) {
      const ready = progress.filter((p) => p.phase === mode).length;
      print(`${ready}/${progress.length} nodes in ${mode}: ${line}`);
      last = line;
    }
    const done = progress.length > 0 && progress.every((p) => p.phase === mode && p.wanted === mode);
    if (done || Date.now() >= end) return { done, nodes: progress };
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Waits until the operator has taken the request: applied (the cluster config is `next`) or refused (gone, not applied). */
async function waitForOperator(store: Store, next: NetworkConfig, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const [cur, req] = await Promise.all([store.get('network', NETWORK_KEY), store.get('network', NETWORK_REQUEST_KEY)]);
    if (cur && sameConfig(cur.value, next)) return;
    if (!req) throw new OperationFailed('the operator refused the config (its log says why)');
    if (Date.now() >= end) throw new OperationFailed(`the operator did not take the config within ${timeoutMs / 1000} s: is it running?`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** With no store named, the state directory's local cluster (`up`) records its underlay switch's MTU. */
async function localUnderlayMtu(o: StoreFlags & { stateDir?: string }): Promise<number | undefined> {
  if (o.store !== undefined || o.storeConfig !== undefined) return undefined;
  return (await tryLoadClusterState(o.stateDir ?? defaultStateDir()))?.plan.underlay.mtu;
}

function parseSeconds(v: string): number {
  if (!/^[0-9]+$/.test(v) || Number(v) < 1) throw new UsageError(`--timeout: "${v}" is not a number of seconds`);
  return Number(v);
}

export function registerConfigApply(config: Command): void {
  addStoreOptions(config
    .command('apply')
    .description(
      'Apply a changed cluster network config to the running cluster through the operator. Only what may change at run time ' +
        'may differ (ipsecConfig: {mode: Full|Disabled} switches IPsec with no packet lost); a key that cannot change exits 2 naming it. ' +
        'A Network manifest given alone keeps the installed install-config values, and the other way round. ' +
        'With --wait: progress per node, exit 0 once every node reports the new mode, 1 on timeout.',
    )
    .argument('<files...>', 'install-config.yaml and/or manifests/cluster-network-03-config.yml')
    .option('--state-dir <dir>', 'the cluster\'s state directory, whose store is used (default /var/lib/overlay-ipsec, or OI_STATE_DIR)')
    .option('--wait', 'wait until every node reports the new IPsec mode')
    .option('--timeout <seconds>', 'how long --wait waits (default 120)', parseSeconds, 120)
    .option('--json', 'print {"applied":…,"mode":…,"done":…,"nodes":[{"node","wanted","phase","pairs"}]}')
    .option('--underlay-mtu <n>', 'the hosts\' underlay MTU, to check the pod MTU against (default: the local cluster\'s, when the state directory holds one)', parseMtu)
    .option('--underlay-interface <name>', 'read the underlay MTU from this interface'))
    .action(async (files: string[], o: StoreFlags & { stateDir?: string; wait?: boolean; timeout: number; json?: boolean; underlayMtu?: number; underlayInterface?: string }) => {
      const underlayMtu = o.underlayMtu ?? (o.underlayInterface ? await interfaceMtu(o.underlayInterface) : await localUnderlayMtu(o));
      const r = await validateFiles(files, underlayMtu !== undefined ? { underlayMtu } : {});
      for (const w of r.warnings) process.stderr.write(`overlay-ipsec: warning: ${formatDiagnostic(w)}\n`);
      if (r.errors.length) throwConfigErrors(r.errors);
      const store = await openStoreForCli(await storeSpecFromFlags(o, o.stateDir ?? defaultStateDir()));
      try {
        const stored = await store.get('network', NETWORK_KEY);
        if (!stored) throw new OperationFailed('no cluster network config is installed in this state directory (is the cluster up?)');
        const next = await nextConfig(files, stored.value, r.network!);
        const errs = checkTransition(stored.value, next);
        if (errs.length) throwConfigErrors(errs);
        const changed = !sameConfig(stored.value, next);
        const print = (line: string): void => void (o.json ? undefined : process.stdout.write(line + '\n'));
        if (changed) {
          await store.put('network', NETWORK_REQUEST_KEY, { ...next, installed_at: stored.value.installed_at });
          await waitForOperator(store, next, 15_000);
          print(`applied: IPsec ${stored.value.ipsec.mode} → ${next.ipsec.mode}`);
        } else print(`unchanged: IPsec ${next.ipsec.mode}`);
        const result = o.wait ? await waitForMode(store, next.ipsec.mode, o.timeout * 1000, print) : undefined;
        if (o.json) process.stdout.write(JSON.stringify({ applied: changed, mode: next.ipsec.mode, ...(result ?? {}) }, null, 2) + '\n');
        if (result && !result.done) throw new OperationFailed(`not every node reports IPsec ${next.ipsec.mode} after ${o.timeout} s`);
      } finally {
        await store.close();
      }
    });
}
