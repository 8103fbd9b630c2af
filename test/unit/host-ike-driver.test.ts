import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IkeEngine } from '../../src/ike/engine.js';
import { IkeDriver, type IkeHost } from '../../src/host/ike-driver.js';
import type { NegotiatedChild } from '../../src/ike/events.js';
import type { Endpoint } from '../../src/ike/events.js';
import { conn, pskAuth, seededRandom } from './ike-sim.js';

/**
 * Waits for `done` (checked every 10 ms) up to 20 s of wall time: a handshake is a few ms of CPU,
 * but a loaded machine stretched it past the 1 s this test once allowed.
 */
async function until(done: () => boolean): Promise<void> {
  for (const end = Date.now() + 20_000; !done() && Date.now() < end;) await new Promise((r) => setTimeout(r, 10));
}

/** Two drivers wired through fake hosts (the marker on 4500 belongs to the stack's UDP socket). */
test('IkeDriver: host sends without the non-ESP marker, children installed and removed, IKE SAs up and down', async () => {
  const A = '192.0.2.1';
  const B = '192.0.2.2';
  type Rec = { installs: NegotiatedChild[]; replaces: (number | undefined)[]; removed: number[]; ikeUp: string[]; ikeDown: string[]; sent: Array<{ len: number; port: number; marker: boolean }> };
  const rec = (): Rec => ({ installs: [], replaces: [], removed: [], ikeUp: [], ikeDown: [], sent: [] });
  const ra = rec();
  const rb = rec();
  const drivers: Record<string, IkeDriver> = {};
  const host = (me: string, r: Rec): IkeHost => ({
    sendIke(message: Buffer, localPort: number, to: Endpoint) {
      r.sent.push({ len: message.length, port: localPort, marker: message.subarray(0, 4).equals(Buffer.alloc(4)) });
      setImmediate(() => drivers[to.address]!.onIkeMessage(message, { address: me, port: localPort }, to.port));
    },
    installChild: (s) => {
      r.installs.push(s);
      r.replaces.push(s.replacesSpiIn);
    },
    removeSa: (spi) => r.removed.push(spi),
    retireSa: () => {},
    ikeUp: (e) => r.ikeUp.push(e.name),
    ikeDown: (e) => r.ikeDown.push(e.name),
    ikeState: () => {},
    log: () => {},
    now: Date.now,
  });
  const ea = new IkeEngine({ now: Date.now, random: seededRandom('da'), connections: [conn('site', A, B)], auth: pskAuth('s', 'a.example', 'b.example') });
  const eb = new IkeEngine({ now: Date.now, random: seededRandom('db'), connections: [conn('site', B, A, {}, { localTs: ['10.2.0.0/24'], remoteTs: ['10.1.0.0/24'] })], auth: pskAuth('s', 'b.example', 'a.example') });
  drivers[A] = new IkeDriver(ea, host(A, ra), A);
  drivers[B] = new IkeDriver(eb, host(B, rb), B);
  ea.initiate('site');
  drivers[A].pump();
  await until(() => ra.installs.length > 0 && rb.installs.length > 0);
  assert.equal(ra.installs.length, 1);
  assert.equal(rb.installs.length, 1);
  assert.equal(ra.installs[0]!.keyIn.toString('hex'), rb.installs[0]!.keyOut.toString('hex'));
  assert.equal(ra.installs[0]!.remotePort, 4500);
  assert.ok(ra.sent.some((s) => s.port === 4500), 'floated to 4500');
  assert.ok(ra.sent.filter((s) => s.port === 4500).every((s) => !s.marker), 'the host adds the marker, not the driver');
  assert.deepEqual(ra.ikeUp, ['site']);
  assert.deepEqual(ra.replaces, [undefined], 'a first child replaces nothing');
  ea.terminate('site');
  drivers[A].pump();
  await until(() => rb.removed.length > 0);
  assert.deepEqual(ra.removed, [ra.installs[0]!.spiIn]);
  assert.deepEqual(rb.removed, [rb.installs[0]!.spiIn]);
  await until(() => rb.ikeDown.length > 0);
  assert.deepEqual(ra.ikeDown, ['site'], 'ike-down reaches the host');
  assert.deepEqual(rb.ikeDown, ['site']);
  drivers[A].stop();
  drivers[B].stop();
});

/**
 * The driver's one timer follows the engine's earliest deadline: a pump that leaves it where it
 * was (most pumps of an idle agent) does not make a new timer, one that moves it does, and the
 * timer still fires the engine's deadlines (here: liveness checks every second).
 */
test('IkeDriver: the timer is re-made only when the earliest deadline moves', async () => {
  const A = '192.0.2.1';
  const B = '192.0.2.2';
  const drivers: Record<string, IkeDriver> = {};
  const informational: string[] = [];
  const host = (me: string): IkeHost => ({
    sendIke(message: Buffer, localPort: number, to: Endpoint) {
      const off = message.readUInt32BE(0) === 0 ? 4 : 0;
      if (message[off + 18] === 37) informational.push(me);
      setImmediate(() => drivers[to.address]!.onIkeMessage(message, { address: me, port: localPort }, to.port));
    },
    installChild: () => {},
    removeSa: () => {},
    retireSa: () => {},
    ikeUp: () => {},
    ikeDown: () => {},
    ikeState: () => {},
    log: () => {},
    now: () => performance.now(),
  });
  const now = () => performance.now();
  const timers = { retransmit: { timeoutMs: 100, base: 1.8, tries: 5 } };
  const ea = new IkeEngine({ now, timers, random: seededRandom('ta'), connections: [conn('site', A, B, { dpdDelayMs: 1000 })], auth: pskAuth('s', 'a.example', 'b.example') });
  const eb = new IkeEngine({ now, random: seededRandom('tb'), connections: [conn('site', B, A, { dpdDelayMs: 1000 }, { localTs: ['10.2.0.0/24'], remoteTs: ['10.1.0.0/24'] })], auth: pskAuth('s', 'b.example', 'a.example') });
  drivers[A] = new IkeDriver(ea, host(A), A);
  drivers[B] = new IkeDriver(eb, host(B), B);
  ea.initiate('site');
  drivers[A].pump();
  await until(() => ea.sas('site')[0]?.state === 'established' && eb.sas('site')[0]?.state === 'established');
  assert.equal(ea.sas('site')[0]?.state, 'established');
  const realSetTimeout = globalThis.setTimeout;
  let made = 0;
  globalThis.setTimeout = ((fn: () => void, ms?: number) => {
    made++;
    return realSetTimeout(fn, ms);
  }) as typeof setTimeout;
  try {
    for (let i = 0; i < 100; i++) drivers[A].pump();
    assert.equal(made, 0, 'pumps that moved no deadline made no timer');
    // A request of ours makes a retransmission deadline (100 ms) earlier than the next liveness check.
    assert.ok(ea.rekeyChild('site'));
    drivers[A].pump();
    assert.equal(made, 1, 'an earlier deadline re-arms the timer');
  } finally {
    globalThis.setTimeout = realSetTimeout;
  }
  const before = informational.length;
  await new Promise((r) => setTimeout(r, 1600));
  assert.ok(informational.length - before >= 1, 'liveness checks still go out on the timer');
  drivers[A].stop();
  drivers[B].stop();
});
