import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IkeEngine } from '../../src/ike/engine.js';
import { IkeDriver, type IkeHost } from '../../src/host/ike-driver.js';
import type { NegotiatedChild } from '../../src/ike/events.js';
import type { Endpoint } from '../../src/ike/events.js';
import { conn, pskAuth, seededRandom } from './ike-sim.js';

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
  for (let i = 0; i < 100 && (ra.installs.length === 0 || rb.installs.length === 0); i++) await new Promise((r) => setTimeout(r, 10));
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
  for (let i = 0; i < 100 && rb.removed.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(ra.removed, [ra.installs[0]!.spiIn]);
  assert.deepEqual(rb.removed, [rb.installs[0]!.spiIn]);
  for (let i = 0; i < 100 && rb.ikeDown.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(ra.ikeDown, ['site'], 'ike-down reaches the host');
  assert.deepEqual(rb.ikeDown, ['site']);
  drivers[A].stop();
  drivers[B].stop();
});
