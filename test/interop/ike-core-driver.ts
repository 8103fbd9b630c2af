/**
 * A UDP driver for the IKE engine, run inside a network namespace by
 * ike-strongswan-core.test.ts (`ip netns exec NS node ike-core-driver.js`). It binds ports 500 and
 * 4500 on the local address, feeds datagrams and timers to the engine and writes the engine's
 * outputs to stdout as JSON lines; commands arrive on stdin as JSON lines.
 * Config: env IKE_DRIVER_CONFIG = JSON { connections: IkeConnectionConfig[], auth: Record<conn, AuthConnConfig (psk as a string)>, timers? }.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { IkeEngine } from '../../src/ike/engine.js';
import type { IkeConnectionConfig } from '../../src/ike/config.js';
import type { EngineTimers } from '../../src/ike/context.js';
import { createAuthProvider, type AuthConnConfig } from '../../src/ike/auth/index.js';
import { ikev2DecryptionRow } from '../../src/ike/keylog.js';
import { ikeDatagramOf, ikeMessageOf } from '../../src/wire/udp-encap.js';

interface DriverConfig {
  connections: IkeConnectionConfig[];
  timers?: Partial<EngineTimers>;
  auth: Record<string, Omit<AuthConnConfig, 'psk'> & { psk?: string }>;
}

const cfg = JSON.parse(process.env.IKE_DRIVER_CONFIG ?? '{}') as DriverConfig;
const authConns: Record<string, AuthConnConfig> = {};
for (const [k, v] of Object.entries(cfg.auth)) authConns[k] = { ...v, ...(v.psk !== undefined ? { psk: Buffer.from(v.psk) } : {}) } as AuthConnConfig;
const engine = new IkeEngine({
  now: () => Date.now(),
  random: (n) => randomBytes(n),
  connections: cfg.connections,
  auth: createAuthProvider(authConns, () => new Date()),
  ...(cfg.timers ? { timers: cfg.timers } : {}),
});

const out = (o: unknown): void => {
  process.stdout.write(JSON.stringify(o) + '\n');
};

const local = cfg.connections[0]!.localAddrs[0]!;
const sockets = new Map<number, dgram.Socket>();
let timer: NodeJS.Timeout | undefined;

function pump(): void {
  for (const o of engine.poll()) {
    if (o.kind === 'send') {
      const datagram = ikeDatagramOf(o.bytes, o.from.port);
      sockets.get(o.from.port)?.send(datagram, o.to.port, o.to.address);
      out({ kind: 'sent', to: o.to, from: o.from, length: datagram.length });
    } else if (o.kind === 'child-up') {
      const s = o.spec;
      out({ kind: 'child-up', name: s.name, mode: s.mode, spiIn: s.spiIn, spiOut: s.spiOut, keyIn: s.keyIn.toString('hex'), keyOut: s.keyOut.toString('hex'), proposal: s.proposal, remotePort: s.remotePort, localTs: s.localTs, remoteTs: s.remoteTs });
    } else if (o.kind === 'ike-up') {
      out({ kind: 'ike-up', name: o.name, spiI: o.spiI.toString('hex'), spiR: o.spiR.toString('hex'), keylog: ikev2DecryptionRow(o.keys) });
    } else {
      out({ ...o, ...('spiI' in o ? { spiI: o.spiI.toString('hex'), spiR: o.spiR.toString('hex') } : {}) });
    }
  }
  if (timer) clearTimeout(timer);
  const d = engine.nextDeadline();
  if (d !== undefined) {
    timer = setTimeout(() => {
      engine.onTimeout(Date.now());
      pump();
    }, Math.max(0, d - Date.now()));
  }
}

async function bind(port: number): Promise<void> {
  const s = dgram.createSocket('udp4');
  s.on('message', (datagram, rinfo) => {
    const msg = ikeMessageOf(datagram, port);
    if (msg === null) return;
    engine.receive(msg, { address: rinfo.address, port: rinfo.port }, { address: local, port });
    pump();
  });
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(port, local, () => resolve());
  });
  sockets.set(port, s);
}

await bind(500);
await bind(4500);
out({ kind: 'ready' });

createInterface({ input: process.stdin }).on('line', (line) => {
  try {
    const c = JSON.parse(line) as { cmd: string; conn: string; child?: string };
    if (c.cmd === 'initiate') engine.initiate(c.conn);
    else if (c.cmd === 'rekeyChild') engine.rekeyChild(c.conn, c.child);
    else if (c.cmd === 'rekeyIke') engine.rekeyIke(c.conn);
    else if (c.cmd === 'terminate') engine.terminate(c.conn, c.child);
    else if (c.cmd === 'status') out({ kind: 'status', status: engine.status() });
    pump();
  } catch (e) {
    out({ kind: 'error', message: String(e) });
  }
});

process.on('SIGTERM', () => {
  for (const s of sockets.values()) s.close();
  process.exit(0);
});
