#!/usr/bin/env node
/**
 * One side of the handshake benchmark, run inside a namespace:
 *   node ike-process.js responder CONFIG.json   our IKE engine answering on UDP 500/4500
 *   node ike-process.js load CONFIG.json        the initiator load: keeps `concurrency` IKE_SA +
 *                                               CHILD_SA handshakes in flight for `seconds`
 * CONFIG: { local, connection: IkeConnectionConfig, auth: AuthConnConfig (PEM strings),
 *           concurrency?, seconds?, warmupSeconds? }
 * The responder prints "ready" and, on SIGTERM, {"established":N} before exiting. The load prints
 * {"established","seconds","per_s","failed","retransmits","initiator_cpu_ms","initiator_cpu_wait_share"}
 * and exits; the last is the share of the measured window it was runnable but waiting for a CPU.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { IkeEngine } from '../../src/ike/engine.js';
import type { IkeConnectionConfig } from '../../src/ike/config.js';
import { createAuthProvider, type AuthConnConfig } from '../../src/ike/auth/index.js';
import { EspDataPath } from '../../src/esp/datapath.js';
import { IkeUdpDriver } from './udp-driver.js';
import { cpuWaitShare, schedTimes, type SchedTimes } from '../lib/proc.js';

interface Config {
  local: string;
  connection: IkeConnectionConfig;
  auth: AuthConnConfig;
  concurrency?: number;
  seconds?: number;
  warmupSeconds?: number;
}

const [mode, file] = process.argv.slice(2);
const cfg = JSON.parse(readFileSync(file!, 'utf8')) as Config;
const engine = new IkeEngine({
  now: () => Date.now(),
  random: (n) => randomBytes(n),
  connections: [cfg.connection],
  auth: createAuthProvider({ [cfg.connection.name]: cfg.auth }, () => new Date()),
});

if (mode === 'responder') {
  let established = 0;
  // Each CHILD_SA is installed into (and removed from) a real ESP data path, as a daemon would:
  // strongSwan's responder installs its SAs into kernel-libipsec too. No packets flow.
  const esp = new EspDataPath({ tun: { write: () => {} }, udp: { send: () => {} }, now: () => Date.now() });
  const driver = new IkeUdpDriver(engine, cfg.local, (o) => {
    if (o.kind === 'child-up') {
      established++;
      esp.installChild(o.spec);
    } else if (o.kind === 'child-down') {
      esp.removeSa(o.spiIn);
    }
  });
  await driver.start();
  process.stdout.write('ready\n');
  process.on('SIGTERM', () => {
    process.stdout.write(JSON.stringify({ established, counters: engine.counters }) + '\n');
    driver.close();
    process.exit(0);
  });
} else if (mode === 'load') {
  const concurrency = cfg.concurrency ?? 8;
  const seconds = cfg.seconds ?? 8;
  const warmup = cfg.warmupSeconds ?? 1;
  let inFlight = 0;
  let established = 0;
  let counted = 0;
  let failed = 0;
  const up = new Set<number>();
  let measuring = false;
  let t0 = 0;
  let sched0: SchedTimes | undefined;
  const topUp = (): void => {
    while (inFlight < concurrency) {
      inFlight++;
      engine.initiate(cfg.connection.name);
    }
    driver.pump();
  };
  const driver = new IkeUdpDriver(engine, cfg.local, (o) => {
    if (o.kind === 'ike-up') up.add(o.serial);
    else if (o.kind === 'child-up') {
      inFlight--;
      established++;
      if (measuring) counted++;
      setImmediate(topUp);
    } else if (o.kind === 'ike-down' && !up.has(o.serial)) {
      inFlight--;
      failed++;
      setImmediate(topUp);
    }
  });
  await driver.start();
  topUp();
  setTimeout(() => {
    measuring = true;
    t0 = performance.now();
    sched0 = schedTimes('self');
    setTimeout(() => {
      const s = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage();
      const cpuMsEach = established > 0 ? (cpu.user + cpu.system) / 1000 / established : null;
      const waitShare = cpuWaitShare(sched0, schedTimes('self'), s);
      process.stdout.write(JSON.stringify({ established: counted, total: established, seconds: s, per_s: counted / s, failed, retransmits: engine.counters.retransmits, initiator_cpu_ms: cpuMsEach, initiator_cpu_wait_share: waitShare }) + '\n');
      driver.close();
      process.exit(0);
    }, seconds * 1000);
  }, warmup * 1000);
} else {
  process.stderr.write('usage: ike-process.js responder|load CONFIG.json\n');
  process.exit(2);
}
