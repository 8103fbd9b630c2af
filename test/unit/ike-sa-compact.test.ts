import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compactEstablished, owned, packed } from '../../src/ike/sa/compact.js';
import { IkeSa, type IkeCrypto } from '../../src/ike/sa/ike-sa.js';
import { hmacPrf } from '../../src/crypto/prf.js';
import { resolveConnection } from '../../src/ike/config.js';
import { conn, pskAuth, Sim } from './ike-sim.js';

test('owned: exact copies out of shared memory, untouched when already exact', () => {
  const slab = Buffer.from('0123456789abcdef'); // a pool slice
  const part = slab.subarray(2, 6);
  const o = owned(part);
  assert.deepEqual(o, Buffer.from('2345'));
  assert.equal(o.buffer.byteLength, 4);
  assert.notEqual(o.buffer, slab.buffer);
  const exact = Buffer.alloc(8, 1);
  assert.equal(owned(exact), exact);
  assert.equal(owned(slab.subarray(3, 3)).length, 0);
});

test('packed: copies in one exact allocation, in order', () => {
  const src = Buffer.from('abcdefghij');
  const [a, e, b] = packed([src.subarray(0, 3), src.subarray(5, 5), src.subarray(7, 10)]);
  assert.deepEqual([a!.toString(), e!.length, b!.toString()], ['abc', 0, 'hij']);
  assert.equal(a!.buffer, b!.buffer);
  assert.equal(a!.buffer.byteLength, 6);
  src.fill(0);
  assert.equal(a!.toString(), 'abc', 'a copy, not a view of the source');
});

test('compactEstablished drops AUTH-only material and keeps the rest in memory of its own', () => {
  const c = resolveConnection(conn('x', '192.0.2.1', '192.0.2.2'));
  const pool = Buffer.from(Buffer.alloc(300, 7)); // one shared backing store for everything below
  const k = (a: number, n: number): Buffer => pool.subarray(a, a + n);
  const crypto: IkeCrypto = {
    proposal: { protocol: 'ike', encr: { id: 20, keyLength: 256 }, prf: 5, dh: 14 },
    prf: hmacPrf('sha256'),
    keys: { skD: k(200, 32), skAi: k(232, 0), skAr: k(232, 0), skEi: k(232, 36), skEr: k(260, 36), skPi: k(200, 32), skPr: k(200, 32) },
  };
  const sa = new IkeSa(1, c, true, Buffer.alloc(8, 1), { address: '192.0.2.1', port: 500 }, { address: '192.0.2.2', port: 500 }, 0, { state: 'authenticating', crypto });
  sa.spiR = pool.subarray(0, 8);
  sa.ni = pool.subarray(8, 40);
  sa.nr = pool.subarray(40, 72);
  sa.initRequest = pool.subarray(72, 150);
  sa.initResponse = pool.subarray(150, 200);
  sa.remoteId = { type: 2, data: k(0, 10) };
  compactEstablished(sa);
  assert.equal(sa.crypto, crypto, 'the keys stay in the phase');
  for (const b of [sa.ni, sa.nr, sa.initRequest, sa.initResponse, crypto.keys.skPi, crypto.keys.skPr]) assert.equal(b.length, 0);
  // All kept parts live in one allocation of exactly their size, apart from the slab they came from.
  const kept = [sa.spiR, crypto.keys.skD, crypto.keys.skEi, crypto.keys.skEr, sa.remoteId.data];
  for (const b of kept) {
    assert.equal(b.buffer, sa.spiR.buffer);
    assert.notEqual(b.buffer, pool.buffer);
  }
  assert.equal(sa.spiR.buffer.byteLength, kept.reduce((n, b) => n + b.length, 0));
  assert.deepEqual(crypto.keys.skEi, k(232, 36));
  assert.deepEqual(sa.spiR, pool.subarray(0, 8));
});

test('after compaction an IKE SA still rekeys itself and its child, and answers a retransmitted IKE_AUTH', () => {
  const sim = new Sim();
  const a = sim.add('a', '192.0.2.1', [conn('s', '192.0.2.1', '192.0.2.2')], pskAuth('k', 'a.example', 'b.example'));
  const b = sim.add('b', '192.0.2.2', [conn('s', '192.0.2.2', '192.0.2.1', {}, { localTs: ['10.2.0.0/24'], remoteTs: ['10.1.0.0/24'] })], pskAuth('k', 'b.example', 'a.example'));
  // Duplicate the IKE_AUTH request: the responder answers the copy from its cached response.
  sim.duplicate = (p) => p.from.port === 4500 && p.from.address === '192.0.2.1' && b.ikeUps().length === 0;
  a.engine.initiate('s');
  sim.advance(1000);
  assert.equal(a.childUps().length, 1);
  assert.ok(b.engine.counters.retransmittedRequests >= 1);
  sim.duplicate = () => false;
  assert.equal(a.engine.rekeyChild('s'), true);
  sim.advance(1000);
  assert.equal(a.childUps().length, 2);
  assert.equal(a.engine.rekeyIke('s'), true);
  sim.advance(1000);
  assert.equal(a.ikeUps().length, 2);
  assert.equal(a.engine.rekeyChild('s'), true);
  sim.advance(1000);
  assert.equal(a.childUps().length, 3);
  assert.equal(b.childUps().length, 3);
  assert.equal(a.engine.counters.internalErrors + b.engine.counters.internalErrors, 0);
});
