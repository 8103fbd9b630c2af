#!/usr/bin/env node
/**
 * A profiling aid, not a benchmark row: one initiator engine and one responder engine in this
 * process, joined directly (no sockets), doing N full handshakes (IKE_SA_INIT + IKE_AUTH with the
 * first CHILD_SA) one after another with RSA-2048 certificates. It reports the CPU time spent
 * inside each engine per handshake, which is what `npm run bench`'s handshakes row compares — but
 * here free of socket and scheduling noise, so a change can be judged on a busy machine and run
 * under `node --cpu-prof`.
 *
 *   node dist/bench/ike/inproc.js [--group modp2048|x25519] [--n 300] [--warmup 30]
 *
 * INITIAL_CONTACT keeps the responder's state bounded, as in the handshakes row.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { IkeEngine } from '../../src/ike/engine.js';
import type { IkeConnectionConfig } from '../../src/ike/config.js';
import type { IkeOutput } from '../../src/ike/events.js';
import { createAuthProvider } from '../../src/ike/auth/index.js';
import { TestPki } from '../../test/helpers/certs.js';

const { values } = parseArgs({ options: { group: { type: 'string', default: 'modp2048' }, n: { type: 'string', default: '300' }, warmup: { type: 'string', default: '30' } } });
const n = Number(values.n);
const warmup = Number(values.warmup);
const proposal = `aes256gcm16-prfsha256-${values.group}`;

const pki = new TestPki('oib-inproc-pki');
try {
  const ca = pki.createCa('ca', { dn: 'C=XX, O=Bench, CN=Bench CA', keyType: 'rsa' });
  const resp = pki.issue(ca, 'resp', { dn: 'C=XX, O=Bench, CN=resp.bench', keyType: 'rsa', sans: ['resp.bench'] });
  const load = pki.issue(ca, 'load', { dn: 'C=XX, O=Bench, CN=load.bench', keyType: 'rsa', sans: ['load.bench'] });
  const conn = (local: string, remote: string, localTs: string, remoteTs: string): IkeConnectionConfig => ({
    name: 'bench', localAddrs: [local], remoteAddrs: [remote], proposals: [proposal],
    children: [{ name: 'pods', mode: 'tunnel', localTs: [localTs], remoteTs: [remoteTs], espProposals: ['aes256gcm16'] }],
  });
  const ini = new IkeEngine({
    now: () => Date.now(), random: randomBytes, connections: [conn('192.0.2.1', '192.0.2.2', '10.1.0.0/24', '10.2.0.0/24')],
    auth: createAuthProvider({ bench: { local: { auth: 'pubkey', certPem: load.certPem, keyPem: load.keyPem, id: 'load.bench' }, remote: { auth: 'pubkey', id: 'resp.bench' }, caPems: [ca.certPem] } }, () => new Date()),
  });
  const res = new IkeEngine({
    now: () => Date.now(), random: randomBytes, connections: [conn('192.0.2.2', '192.0.2.1', '10.2.0.0/24', '10.1.0.0/24')],
    auth: createAuthProvider({ bench: { local: { auth: 'pubkey', certPem: resp.certPem, keyPem: resp.keyPem, id: 'resp.bench' }, remote: { auth: 'pubkey', id: 'load.bench' }, caPems: [ca.certPem] } }, () => new Date()),
  });
  const cpu = { ini: 0, res: 0 };
  const timed = <T>(who: 'ini' | 'res', f: () => T): T => {
    const c0 = process.cpuUsage();
    const r = f();
    const c = process.cpuUsage(c0);
    cpu[who] += (c.user + c.system) / 1000;
    return r;
  };
  /** Moves datagrams between the two engines until neither has anything to send. */
  const settle = (): number => {
    let ups = 0;
    for (;;) {
      const a = timed('ini', () => ini.poll());
      const b = timed('res', () => res.poll());
      const count = (o: IkeOutput[]): void => { for (const x of o) if (x.kind === 'child-up') ups++; };
      if (process.env.DBG) for (const x of [...a, ...b]) if (x.kind === "log") console.error(x.line);
      count(a);
      count(b);
      const sa = a.filter((o) => o.kind === 'send');
      const sb = b.filter((o) => o.kind === 'send');
      if (sa.length === 0 && sb.length === 0) return ups;
      for (const o of sa) if (o.kind === 'send') timed('res', () => res.receive(o.bytes, o.from, o.to));
      for (const o of sb) if (o.kind === 'send') timed('ini', () => ini.receive(o.bytes, o.from, o.to));
    }
  };
  const run = (count: number): void => {
    for (let i = 0; i < count; i++) {
      timed('ini', () => ini.initiate('bench'));
      const ups = settle();
      if (ups !== 2) throw new Error(`handshake ${i}: ${ups} child-up events, expected 2`);
    }
  };
  run(warmup);
  cpu.ini = 0;
  cpu.res = 0;
  const t0 = performance.now();
  run(n);
  const wall = performance.now() - t0;
  process.stdout.write(JSON.stringify({
    group: values.group, handshakes: n,
    responder_cpu_ms_each: Math.round((cpu.res / n) * 1000) / 1000,
    initiator_cpu_ms_each: Math.round((cpu.ini / n) * 1000) / 1000,
    wall_ms_each: Math.round((wall / n) * 1000) / 1000,
    responder_counters: res.counters,
  }) + '\n');
} finally {
  pki.cleanup();
}
