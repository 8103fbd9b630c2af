import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import { TestPki } from '../../test/helpers/certs.js';
import { onInterrupt } from '../lib/lab.js';
import type { MeshConfig } from './mesh-node.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const meshNodeJs = path.join(here, 'mesh-node.js');

export interface MeshRow {
  peers: number;
  /** First IKE_SA_INIT sent → last CHILD_SA installed, at the hub. */
  seconds: number | null;
  /** CPU seconds the hub used in that time: steadier than wall time on a shared machine. */
  hub_cpu_s: number | null;
  /** The hub process's RSS with every tunnel up (after a GC). */
  rss_mb: number | null;
  /** (RSS with all tunnels up − RSS before the engine and its connections existed) / peers. */
  kb_per_peer: number | null;
  /** The same for the V8 heap in use (after a GC): the engine's own objects, without allocator slack. */
  heap_kb_per_peer: number | null;
  /** The same for Buffer/ArrayBuffer memory (outside the V8 heap): key and message buffers. */
  buffers_kb_per_peer: number | null;
  retransmits: number;
}

let pki: TestPki | undefined;
let certs: { hubAuth: MeshConfig['hubAuth']; peerAuth: MeshConfig['peerAuth'] } | undefined;

/** One CA and two RSA-2048 certificates (hub, peers), made once per bench run. */
function meshCerts(): NonNullable<typeof certs> {
  if (certs) return certs;
  pki = new TestPki('oib-mesh-pki');
  onInterrupt(async () => pki?.cleanup());
  const ca = pki.createCa('ca', { dn: 'C=XX, O=Bench, CN=Mesh CA', keyType: 'rsa' });
  const hub = pki.issue(ca, 'hub', { dn: 'C=XX, O=Bench, CN=hub.mesh', keyType: 'rsa', sans: ['hub.mesh'] });
  const peer = pki.issue(ca, 'peer', { dn: 'C=XX, O=Bench, CN=peer.mesh', keyType: 'rsa', sans: ['peer.mesh'] });
  certs = {
    hubAuth: { local: { auth: 'pubkey', certPem: hub.certPem, keyPem: hub.keyPem, id: 'hub.mesh' }, remote: { auth: 'pubkey', id: 'peer.mesh' }, caPems: [ca.certPem] },
    peerAuth: { local: { auth: 'pubkey', certPem: peer.certPem, keyPem: peer.keyPem, id: 'peer.mesh' }, remote: { auth: 'pubkey', id: 'hub.mesh' }, caPems: [ca.certPem] },
  };
  return certs;
}

export function cleanupMesh(): void {
  pki?.cleanup();
  pki = undefined;
  certs = undefined;
}

function lines(stream: Readable, on: (o: Record<string, unknown>) => void): void {
  let buf = '';
  stream.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try { on(JSON.parse(l) as Record<string, unknown>); } catch { /* not a report */ }
    }
  });
}

async function end(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = once(p, 'exit');
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(t);
}

/**
 * One node bringing up IKE + CHILD SAs (seed proposal AES-256-GCM/SHA-256/MODP2048, RSA-2048
 * certificates, transport mode for Geneve) to `peers` peers at once. The node (hub) and the peers
 * run in two processes joined by pipes: no network namespace is needed and the hub's CPU and RSS
 * are its own. Times out after 180 s.
 */
export async function runMesh(o: { peers: number; log: (m: string) => void; timeoutMs?: number }): Promise<MeshRow> {
  const c = meshCerts();
  const file = path.join(pki!.dir, `mesh-${o.peers}.json`);
  const cfg: MeshConfig = { peers: o.peers, hub: '10.200.0.1', proposal: 'aes256gcm16-prfsha256-modp2048', ...c };
  writeFileSync(file, JSON.stringify(cfg));
  const hub = spawn(process.execPath, ['--expose-gc', meshNodeJs, 'hub', file], { stdio: ['pipe', 'pipe', 'inherit', 'pipe'] });
  const peers = spawn(process.execPath, [meshNodeJs, 'peers', file], { stdio: ['pipe', 'pipe', 'inherit', 'pipe'] });
  const unregister = onInterrupt(async () => { await end(hub); await end(peers); });
  hub.stdout!.pipe(peers.stdin!);
  peers.stdout!.pipe(hub.stdin!);
  // When one process ends first, the other's last frames meet a closed pipe (EPIPE): expected at
  // the end of a run, and not worth the unhandled 'error' event that would end this process.
  for (const s of [hub.stdin, peers.stdin, hub.stdout, peers.stdout]) s?.on('error', () => {});
  try {
    let ready = false;
    let peersReady = false;
    lines(peers.stdio[3] as Readable, (m) => { if (m.event === 'ready') peersReady = true; });
    let done: Record<string, unknown> | undefined;
    let downs = 0;
    let progress: Record<string, unknown> | undefined;
    lines(hub.stdio[3] as Readable, (m) => {
      if (m.event === 'ready') ready = true;
      else if (m.event === 'done') done = m;
      else if (m.event === 'ike-down') downs++;
      else if (m.event === 'progress') progress = m;
    });
    const deadline = Date.now() + (o.timeoutMs ?? 180_000);
    const wait = async (pred: () => boolean, what: string): Promise<void> => {
      while (!pred()) {
        if (hub.exitCode !== null || peers.exitCode !== null) throw new Error(`mesh ${o.peers}: a process exited while waiting for ${what}`);
        if (Date.now() > deadline) {
          throw new Error(`mesh ${o.peers}: timed out waiting for ${what} (${String(progress?.up ?? '?')} up, ${downs} IKE SAs failed, engine counters ${JSON.stringify(progress?.counters ?? {})})`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await wait(() => ready && peersReady, 'the hub and the peers');
    hub.kill('SIGUSR2');
    await wait(() => done !== undefined, `${o.peers} tunnels`);
    const d = done!;
    const row: MeshRow = {
      peers: o.peers,
      seconds: Math.round(Number(d.seconds) * 1000) / 1000,
      hub_cpu_s: Math.round(Number(d.cpuSeconds) * 1000) / 1000,
      rss_mb: Math.round((Number(d.rss) / 2 ** 20) * 10) / 10,
      kb_per_peer: Math.round(((Number(d.rss) - Number(d.baseline)) / 1024 / o.peers) * 10) / 10,
      heap_kb_per_peer: Math.round(((Number(d.heapUsed) - Number(d.heapBaseline)) / 1024 / o.peers) * 10) / 10,
      buffers_kb_per_peer: Math.round(((Number(d.arrayBuffers) - Number(d.abBaseline)) / 1024 / o.peers) * 10) / 10,
      retransmits: Number(d.retransmits),
    };
    o.log(`  ${o.peers} peers: ${row.seconds} s (hub CPU ${row.hub_cpu_s} s), hub RSS ${row.rss_mb} MB, ${row.kb_per_peer} KB/peer (heap ${row.heap_kb_per_peer}, buffers ${row.buffers_kb_per_peer} KB/peer), ${row.retransmits} retransmits${downs ? `, ${downs} IKE SAs failed` : ''}`);
    return row;
  } finally {
    unregister();
    await end(hub);
    await end(peers);
  }
}
