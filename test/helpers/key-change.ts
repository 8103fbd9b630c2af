import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from './netns.js';
import { ask, clusterDiagnostics, startOperator, statusOf, stopProcess, type Cluster } from './agent-cluster.js';
import { FsStore, storeDir, nodeDir, CA_BUNDLE_KEY } from '../../src/store/index.js';
import { splitPem } from '../../src/pki/cert-chain.js';
import type { StatusJson } from '../../src/agent/index.js';

// Key changes on a running cluster, each driven the way an operator (or a timer) would and each
// waited for until every node is back to one IKE SA per peer with its two children: the
// scenarios the zero-loss test and `npm run soak` run under a stream.

/** Every SPI in use on a node, by connection: IKE SPIs and the children's inbound SPIs. */
export interface SaPicture {
  ike: Map<string, string[]>;
  children: Map<string, string[]>;
}

export async function picture(c: Pick<Cluster, 'stateDir'>, node: string): Promise<SaPicture> {
  const st = await statusOf(c, node);
  const ike = new Map<string, string[]>();
  const children = new Map<string, string[]>();
  for (const s of st.ike_sas.filter((x) => x.state !== 'STATE_V2_IKE_SA_DELETE')) {
    ike.set(s.name, [...(ike.get(s.name) ?? []), `${s.spi_i}/${s.spi_r}`]);
    children.set(s.name, [...(children.get(s.name) ?? []), ...s.children.map((ch) => ch.spi_in)]);
  }
  return { ike, children };
}

/**
 * One established IKE SA per connection, each with exactly its two children installed. An IKE
 * SA being deleted is not counted: its DELETE is out, and when the peer lost its state (a kill)
 * it lingers, harmless, until its retransmits give up.
 */
export function settled(st: StatusJson): boolean {
  const live = st.ike_sas.filter((s) => s.state !== 'STATE_V2_IKE_SA_DELETE');
  const names = new Set(live.map((s) => s.name));
  for (const name of names) {
    const sas = live.filter((s) => s.name === name);
    if (sas.length !== 1 || sas[0]!.state !== 'STATE_V2_ESTABLISHED_IKE_SA') return false;
    const ch = sas[0]!.children;
    if (ch.length !== 2 || new Set(ch.map((x) => x.name)).size !== 2) return false;
  }
  return names.size > 0;
}

/**
 * Waits until every node is settled and, for each node, `changed(before, now)` holds: the key
 * change went through on both ends and the old SAs are gone.
 */
export async function waitSettled(c: Cluster, what: string, before: Map<string, SaPicture>, changed: (b: SaPicture, n: SaPicture) => boolean, timeoutMs = 30_000): Promise<void> {
  await waitFor(async () => {
    for (const n of c.plan.nodes) {
      const st = await statusOf(c, n.name);
      if (!settled(st)) return false;
      if (!changed(before.get(n.name)!, await picture(c, n.name))) return false;
    }
    return true;
  }, what, timeoutMs, 250).catch((err: Error) => { throw new Error(`${err.message}\n${clusterDiagnostics(c)}`); });
}

async function pictures(c: Cluster): Promise<Map<string, SaPicture>> {
  return new Map(await Promise.all(c.plan.nodes.map(async (n) => [n.name, await picture(c, n.name)] as const)));
}

/** Every node still runs the very SAs of `a` (nothing rekeyed, replaced or torn down). */
export function samePictures(a: Map<string, SaPicture>, b: Map<string, SaPicture>): void {
  for (const [node, p] of a) {
    const q = b.get(node)!;
    assert.deepEqual([...q.ike.entries()].sort(), [...p.ike.entries()].sort(), `${node}: the same IKE SAs`);
    assert.deepEqual([...q.children.entries()].sort(), [...p.children.entries()].sort(), `${node}: the same child SAs`);
  }
}

/** No inbound SPI of `b` is still in use in `n`: every child was replaced. */
export function childrenReplaced(b: SaPicture, n: SaPicture): boolean {
  const old = new Set([...b.children.values()].flat());
  return [...n.children.values()].flat().every((s) => !old.has(s));
}

/** No IKE SA of `b` is still in use in `n`. */
export function ikeReplaced(b: SaPicture, n: SaPicture): boolean {
  const old = new Set([...b.ike.values()].flat());
  return [...n.ike.values()].flat().every((s) => !old.has(s));
}

/** The connections of the node that initiates them (the lower system-id starts a pair's IKE). */
async function connections(c: Cluster, node: string): Promise<string[]> {
  return [...(await picture(c, node)).ike.keys()];
}

/** Rekeys both children of every tunnel of `node` over its control socket (ipsec rekey --child). */
export async function childRekey(c: Cluster, node: string): Promise<void> {
  const before = await pictures(c);
  for (const conn of await connections(c, node)) {
    for (const child of [`${conn}-in-1`, `${conn}-out-1`]) await ask(c, node, { cmd: 'rekey', conn, child });
  }
  await waitSettled(c, `child SAs of ${node} rekeyed on both ends, the old ones deleted`, before, (b, n) => {
    const mine = [...b.children.values()].flat();
    return mine.length > 0 && childrenReplaced(b, n);
  });
}

/** Rekeys every IKE SA of `node` (children move to the new IKE SA unchanged). */
export async function ikeRekey(c: Cluster, node: string): Promise<void> {
  const before = await pictures(c);
  for (const conn of await connections(c, node)) await ask(c, node, { cmd: 'rekey', conn });
  await waitSettled(c, `IKE SAs of ${node} rekeyed on both ends, the old ones deleted`, before, (b, n) => ikeReplaced(b, n));
}

export { pictures };

/** The drop counters that must stay 0 while keys change (inbound refusals by cause). */
export function assertNoDrops(st: StatusJson, node: string): void {
  assert.deepEqual({ auth_failed: st.drops.auth_failed, unknown_spi: st.drops.unknown_spi, replay: st.drops.replay, malformed: st.drops.malformed },
    { auth_failed: 0, unknown_spi: 0, replay: 0, malformed: 0 }, `${node}: no inbound ESP refused while keys changed: ${JSON.stringify(st.drops)}`);
}

/**
 * 4.5 years and 8 days: node certificates (5 calendar years) renew 6 months before their end,
 * up to 7 days earlier by a per-node jitter; at exactly 4.5 years of 365.25 days a node may or
 * may not be due yet, so the jump goes past the jitter.
 */
export const ROTATION_OFFSET = '1652d';
/** 9 years and 8 days: the CA renews 9 calendar years after its start. */
export const ROLLOVER_OFFSET = '3296d';

/** A node's certificate as installed: serial and issuer; its CA bundle: how many CAs. */
export function nodeCreds(c: Cluster, node: string): { serial: string; cert: X509Certificate; cas: number } {
  const dir = nodeDir(c.stateDir, node);
  const cert = new X509Certificate(readFileSync(path.join(dir, 'ipsec-cert.pem')));
  return { serial: cert.serialNumber, cert, cas: splitPem(readFileSync(path.join(dir, 'ipsec-cacert.pem'), 'utf8')).length };
}

/** Restarts the operator with its clock `offset` ahead (the agents' data plane does not need it meanwhile). */
export async function restartOperator(c: Cluster, offset: string): Promise<void> {
  await stopProcess(c.operator);
  c.operator = startOperator(c, { OI_CLOCK_OFFSET: offset }, `operator@${offset}`);
}

/** Moves every agent's certificate clock (agents started with OI_CLOCK_OFFSET allow it). */
export async function jumpAgents(c: Cluster, offset: string): Promise<void> {
  await Promise.all(c.plan.nodes.map((n) => ask(c, n.name, { cmd: 'clock/offset', offset })));
}

/**
 * Node certificate rotation: the operator and every agent jump to `offset` (4.5 years: the node
 * certificates, valid 5 years, are due). Each agent renews, picks the new certificate up by
 * content and re-authenticates make-before-break; done when every node holds a new certificate
 * and every IKE SA was replaced.
 */
export async function certRotation(c: Cluster, offset = ROTATION_OFFSET): Promise<void> {
  const before = await pictures(c);
  const serials = new Map(c.plan.nodes.map((n) => [n.name, nodeCreds(c, n.name).serial]));
  await restartOperator(c, offset);
  await jumpAgents(c, offset);
  await waitFor(() => c.plan.nodes.every((n) => nodeCreds(c, n.name).serial !== serials.get(n.name)), 'every node renewed its certificate', 60_000, 250)
    .catch((err: Error) => { throw new Error(`${err.message}\n${clusterDiagnostics(c)}`); });
  await waitSettled(c, 'every IKE SA re-authenticated with the new certificates', before, (b, n) => ikeReplaced(b, n), 60_000);
}

/**
 * CA rollover: the operator and the agents jump to `offset` (9 years: the CA renews). The new CA
 * is distributed, certificates are reissued from it, the old CA is dropped; done when the bundle
 * is steady with one CA that is not the old one, every node holds a certificate from it and
 * trusts only it, and the IKE SAs were re-authenticated.
 */
export async function caRollover(c: Cluster, offset = ROLLOVER_OFFSET): Promise<void> {
  const before = await pictures(c);
  const store = await FsStore.open(storeDir(c.stateDir));
  try {
    const oldCa = (await store.get('ca', CA_BUNDLE_KEY))!.value.cas.find((x) => x.state === 'active')!;
    await restartOperator(c, offset);
    await jumpAgents(c, offset);
    await waitFor(async () => {
      const b = (await store.get('ca', CA_BUNDLE_KEY))!.value;
      if (b.phase !== 'steady' || b.cas.length !== 1 || b.cas[0]!.fingerprint === oldCa.fingerprint) return false;
      const key = new X509Certificate(b.cas[0]!.pem).publicKey;
      return c.plan.nodes.every((n) => {
        const cr = nodeCreds(c, n.name);
        return cr.cas === 1 && cr.cert.verify(key);
      });
    }, 'the rollover finished: one new CA, every node holding a certificate from it and trusting only it', 90_000, 250)
      .catch((err: Error) => { throw new Error(`${err.message}\n${clusterDiagnostics(c)}`); });
  } finally {
    await store.close();
  }
  await waitSettled(c, 'every IKE SA re-authenticated after the rollover', before, (b, n) => ikeReplaced(b, n), 60_000);
}
