#!/usr/bin/env node
/**
 * The two processes of the mesh benchmark, joined by pipes instead of a network (the parent,
 * mesh.ts, connects one's stdout to the other's stdin):
 *   node mesh-node.js hub CONFIG.json     one node: an IKE engine with one connection per peer,
 *                                         initiating all of them at once; each CHILD_SA is
 *                                         installed into an ESP data path. Reports on fd 3.
 *   node mesh-node.js peers CONFIG.json   N peers: one IKE engine each, responding.
 * Datagrams travel as frames: u32 length, from IPv4 + u16 port, to IPv4 + u16 port, payload.
 * Running the peers in another process keeps the hub's time and memory its own.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { IkeEngine } from '../../src/ike/engine.js';
import type { IkeConnectionConfig } from '../../src/ike/config.js';
import type { Endpoint, IkeOutput } from '../../src/ike/events.js';
import { createAuthProvider, type AuthConnConfig } from '../../src/ike/auth/index.js';
import { EspDataPath } from '../../src/esp/datapath.js';
import { rssBytes } from '../lib/proc.js';

export interface MeshConfig {
  peers: number;
  hub: string;
  proposal: string;
  hubAuth: AuthConnConfig;
  peerAuth: AuthConnConfig;
}

export function peerAddress(i: number): string {
  const n = i + 1;
  return `10.201.${n >> 8}.${n & 255}`;
}

const HEADER = 16;

function ipBytes(a: string, out: Buffer, at: number): void {
  const p = a.split('.');
  for (let i = 0; i < 4; i++) out[at + i] = Number(p[i]);
}
function ipText(b: Buffer, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

function encodeFrame(bytes: Buffer, from: Endpoint, to: Endpoint): Buffer {
  const f = Buffer.allocUnsafe(HEADER + bytes.length);
  f.writeUInt32BE(bytes.length, 0);
  ipBytes(from.address, f, 4);
  f.writeUInt16BE(from.port, 8);
  ipBytes(to.address, f, 10);
  f.writeUInt16BE(to.port, 14);
  bytes.copy(f, HEADER);
  return f;
}

/** Calls `onFrame` for every complete frame read from stdin. */
function readFrames(onFrame: (bytes: Buffer, from: Endpoint, to: Endpoint) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  process.stdin.on('data', (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    let off = 0;
    while (buf.length - off >= HEADER) {
      const len = buf.readUInt32BE(off);
      if (buf.length - off < HEADER + len) break;
      const from = { address: ipText(buf, off + 4), port: buf.readUInt16BE(off + 8) };
      const to = { address: ipText(buf, off + 10), port: buf.readUInt16BE(off + 14) };
      onFrame(Buffer.from(buf.subarray(off + HEADER, off + HEADER + len)), from, to);
      off += HEADER + len;
    }
    buf = buf.subarray(off);
  });
}

function send(o: Extract<IkeOutput, { kind: 'send' }>): void {
  process.stdout.write(encodeFrame(o.bytes, o.from, o.to));
}

function connection(name: string, local: string, remote: string, proposal: string): IkeConnectionConfig {
  // The seed's shape: transport mode protecting Geneve (UDP 6081) between the two node addresses.
  return {
    name, localAddrs: [local], remoteAddrs: [remote], proposals: [proposal],
    children: [{ name: 'geneve', mode: 'transport', localTs: ['dynamic[udp/6081]'], remoteTs: ['dynamic[udp/6081]'], espProposals: ['aes256gcm16'] }],
  };
}

async function hub(cfg: MeshConfig): Promise<void> {
  const report = createWriteStream('', { fd: 3 });
  const emit = (o: unknown): boolean => report.write(JSON.stringify(o) + '\n');
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const baseline = rssBytes(process.pid) ?? 0;
  const heapBaseline = process.memoryUsage().heapUsed;
  const abBaseline = process.memoryUsage().arrayBuffers;
  const conns = Array.from({ length: cfg.peers }, (_, i) => connection(`peer${i}`, cfg.hub, peerAddress(i), cfg.proposal));
  const auth = createAuthProvider(Object.fromEntries(conns.map((c) => [c.name, cfg.hubAuth])), () => new Date());
  const engine = new IkeEngine({ now: () => Date.now(), random: (n) => randomBytes(n), connections: conns, auth });
  const esp = new EspDataPath({ tun: { write: () => {} }, udp: { send: () => {} }, now: () => Date.now() });
  let up = 0;
  let timer: NodeJS.Timeout | undefined;
  let t0 = 0;
  let cpu0 = process.cpuUsage();
  const pump = (): void => {
    for (const o of engine.poll()) {
      if (o.kind === 'send') send(o);
      else if (o.kind === 'child-up') {
        esp.installChild(o.spec);
        if (++up === cfg.peers) {
          const seconds = (performance.now() - t0) / 1000;
          const cpu = process.cpuUsage(cpu0);
          gc?.();
          const rss = rssBytes(process.pid) ?? 0;
          emit({ event: 'done', seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, rss, baseline, retransmits: engine.counters.retransmits, heapUsed: process.memoryUsage().heapUsed, heapBaseline, arrayBuffers: process.memoryUsage().arrayBuffers, abBaseline });
        }
      } else if (o.kind === 'ike-down') emit({ event: 'ike-down', name: o.name, reason: o.reason });
    }
    if (timer) clearTimeout(timer);
    const d = engine.nextDeadline();
    if (d !== undefined) timer = setTimeout(() => { engine.onTimeout(Date.now()); pump(); }, Math.max(0, d - Date.now()));
  };
  readFrames((bytes, from, to) => {
    engine.receive(bytes, from, to);
    pump();
  });
  emit({ event: 'ready' });
  // Start when the parent says so (the peers are up by then).
  process.on('SIGUSR2', () => {
    t0 = performance.now();
    cpu0 = process.cpuUsage();
    setInterval(() => emit({ event: 'progress', up, retransmits: engine.counters.retransmits, counters: engine.counters }), 5000).unref();
    for (const c of conns) engine.initiate(c.name);
    pump();
  });
}

async function peers(cfg: MeshConfig): Promise<void> {
  const auth = createAuthProvider({ hub: cfg.peerAuth }, () => new Date());
  const engines = new Map<string, IkeEngine>();
  for (let i = 0; i < cfg.peers; i++) {
    const a = peerAddress(i);
    engines.set(a, new IkeEngine({ now: () => Date.now(), random: (n) => randomBytes(n), connections: [connection('hub', a, cfg.hub, cfg.proposal)], auth }));
  }
  readFrames((bytes, from, to) => {
    const e = engines.get(to.address);
    if (!e) return;
    e.receive(bytes, from, to);
    for (const o of e.poll()) if (o.kind === 'send') send(o);
  });
  // Responders only keep half-open timeouts; a coarse sweep is enough.
  setInterval(() => {
    const now = Date.now();
    for (const e of engines.values()) {
      const d = e.nextDeadline();
      if (d !== undefined && d <= now) {
        e.onTimeout(now);
        for (const o of e.poll()) if (o.kind === 'send') send(o);
      }
    }
  }, 500).unref();
  process.stdin.on('end', () => process.exit(0));
  createWriteStream('', { fd: 3 }).write(JSON.stringify({ event: 'ready' }) + '\n');
}

const [mode, file] = process.argv.slice(2);
if (mode === 'hub' || mode === 'peers') {
  const cfg = JSON.parse(readFileSync(file!, 'utf8')) as MeshConfig;
  await (mode === 'hub' ? hub(cfg) : peers(cfg));
} else if (mode !== undefined) {
  process.stderr.write('usage: mesh-node.js hub|peers CONFIG.json\n');
  process.exit(2);
}
