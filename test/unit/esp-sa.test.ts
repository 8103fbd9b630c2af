// The SA halves on their own: IVs never repeat, sequence numbers advance and stop before 2^32-1,
// lifetimes by volume, and the replay window moving only for authentic packets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { LifetimeLimits } from '../../src/esp/lifetime.js';
import { InboundSa } from '../../src/esp/sa-inbound.js';
import { OutboundSa, SEQ_HARD_LIMIT, SEQ_SOFT_LIMIT } from '../../src/esp/sa-outbound.js';
import { espPacketLength, newEspPacketView, newEspTrailerView, parseEspPacket } from '../../src/wire/esp.js';

const unlimited = new LifetimeLimits(undefined, undefined);

function sealOne(sa: OutboundSa, payload: Buffer, nh = 4): Buffer {
  const out = Buffer.alloc(espPacketLength(payload.length));
  const n = sa.seal(payload, 0, payload.length, nh, out, 0);
  assert.equal(n, out.length);
  return out;
}

test('outbound: seq starts at 1 and counts; every IV differs; payload never appears in clear', () => {
  const key = randomBytes(36);
  const sa = new OutboundSa({ spi: 0x1234, key, limits: unlimited });
  const payload = Buffer.alloc(64, 0x41);
  const ivs = new Set<string>();
  for (let i = 1; i <= 2000; i++) {
    const p = sealOne(sa, payload);
    assert.equal(p.readUInt32BE(0), 0x1234);
    assert.equal(p.readUInt32BE(4), i);
    ivs.add(p.subarray(8, 16).toString('hex'));
    assert.equal(p.indexOf(payload.subarray(0, 16)), -1);
  }
  assert.equal(ivs.size, 2000);
  assert.equal(sa.lastSeq, 2000);
  assert.equal(sa.packets, 2000);
  assert.equal(sa.bytes, 2000 * 64);
});

test('outbound: soft at SEQ_SOFT_LIMIT, refuses from 2^32-1 on; bad starting points refused', () => {
  assert.ok(SEQ_SOFT_LIMIT < SEQ_HARD_LIMIT - 60_000_000);
  const sa = new OutboundSa({ spi: 0x1234, key: randomBytes(20), limits: unlimited, testOnlyFirstSeq: SEQ_SOFT_LIMIT - 1 });
  sealOne(sa, Buffer.alloc(1));
  assert.equal(sa.softReason, 'seq');
  const end = new OutboundSa({ spi: 0x1234, key: randomBytes(20), limits: unlimited, testOnlyFirstSeq: SEQ_HARD_LIMIT - 1 });
  const p = sealOne(end, Buffer.alloc(1));
  assert.equal(p.readUInt32BE(4), 0xffff_fffe);
  assert.equal(end.hardReason, 'seq');
  assert.equal(end.seal(Buffer.alloc(1), 0, 1, 4, Buffer.alloc(64), 0), -1);
  assert.equal(end.lastSeq, 0xffff_fffe);
  assert.throws(() => new OutboundSa({ spi: 1, key: randomBytes(20), limits: unlimited, testOnlyFirstSeq: 0 }), RangeError);
  assert.throws(() => new OutboundSa({ spi: 1, key: randomBytes(20), limits: unlimited, testOnlyFirstSeq: 2 ** 32 }), RangeError);
  assert.throws(() => new OutboundSa({ spi: 1, key: randomBytes(24), limits: unlimited }), RangeError);
});

test('volume lifetimes: exactly `hard` packets pass; soft comes first', () => {
  const limits = new LifetimeLimits({ packets: 2, bytes: 0 }, { packets: 4 });
  const sa = new OutboundSa({ spi: 7, key: randomBytes(36), limits });
  sealOne(sa, Buffer.alloc(10));
  assert.equal(sa.softReason, null);
  sealOne(sa, Buffer.alloc(10));
  assert.equal(sa.softReason, 'packets');
  sealOne(sa, Buffer.alloc(10));
  sealOne(sa, Buffer.alloc(10));
  assert.equal(sa.hardReason, 'packets');
  assert.equal(sa.seal(Buffer.alloc(10), 0, 10, 4, Buffer.alloc(64), 0), -1);
  assert.equal(sa.packets, 4);
});

test('inbound: forged packets never move the window; authentic ones do', () => {
  const key = randomBytes(36);
  const out = new OutboundSa({ spi: 0x99, key, limits: unlimited, testOnlyFirstSeq: 5000 });
  const inn = new InboundSa({ spi: 0x99, key, limits: unlimited, replayWindow: 64 });
  const p = sealOne(out, Buffer.from('hello world'));
  const forged = Buffer.from(p);
  forged.writeUInt32BE(1_000_000, 4); // a far-ahead sequence number the sender never used
  const view = newEspPacketView();
  const trailer = newEspTrailerView();
  const buf = Buffer.alloc(64);
  assert.equal(parseEspPacket(forged, 0, forged.length, view), null);
  assert.equal(inn.open(forged, view, buf, 0, trailer), 'auth_failed');
  assert.equal(inn.window.highest, 0);
  assert.equal(parseEspPacket(p, 0, p.length, view), null);
  assert.equal(inn.open(p, view, buf, 0, trailer), null);
  assert.equal(buf.subarray(0, trailer.payloadLength).toString(), 'hello world');
  assert.equal(inn.window.highest, 5000);
  assert.equal(inn.packets, 1);
  assert.equal(inn.bytes, 11);
});
