import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ESP_GCM16_MIN_LENGTH, IKE_HEADER_LENGTH, classifyUdpEncap, ikeDatagramOf, ikeMessageOf, natKeepalive, newUdpEncapClass, prependNonEspMarker, writeNonEspMarker,
} from '../../src/wire/udp-encap.js';

test('NAT-keepalive is exactly one 0xFF octet', () => {
  const c = classifyUdpEncap(natKeepalive(), 0, 1);
  assert.equal(c.kind, 'keepalive');
  assert.equal(c.cause, null);
  const wrong = classifyUdpEncap(Buffer.from([0x00]), 0, 1);
  assert.deepEqual([wrong.kind, wrong.cause], ['malformed', 'bad_keepalive']);
});

test('non-ESP marker: the IKE message starts 4 bytes in', () => {
  const ike = Buffer.alloc(IKE_HEADER_LENGTH + 8, 0x11);
  const dgram = prependNonEspMarker(ike);
  assert.equal(dgram.length, ike.length + 4);
  assert.equal(dgram.readUInt32BE(0), 0);
  const c = classifyUdpEncap(dgram, 0, dgram.length);
  assert.deepEqual([c.kind, c.offset, c.length, c.spi], ['ike', 4, ike.length, 0]);
  const short = prependNonEspMarker(Buffer.alloc(IKE_HEADER_LENGTH - 1));
  assert.deepEqual([classifyUdpEncap(short, 0, short.length).kind, classifyUdpEncap(short, 0, short.length).cause], ['malformed', 'ike_truncated']);
  assert.equal(classifyUdpEncap(Buffer.alloc(4), 0, 4).cause, 'ike_truncated');
  const b = Buffer.alloc(6, 9);
  assert.equal(writeNonEspMarker(b, 1), 4);
  assert.equal(b.toString('hex'), '090000000009');
});

test('ESP: non-zero SPI, at least the smallest AES-GCM-16 packet', () => {
  const esp = Buffer.alloc(ESP_GCM16_MIN_LENGTH);
  esp.writeUInt32BE(0xc0ffee01, 0);
  const into = newUdpEncapClass();
  const c = classifyUdpEncap(esp, 0, esp.length, into);
  assert.equal(c, into);
  assert.deepEqual([c.kind, c.offset, c.length, c.spi, c.cause], ['esp', 0, 36, 0xc0ffee01, null]);
  const short = classifyUdpEncap(esp, 0, esp.length - 1);
  assert.deepEqual([short.kind, short.cause, short.spi], ['malformed', 'esp_truncated', 0xc0ffee01]);
  assert.equal(classifyUdpEncap(esp, 0, 8, undefined, 8).kind, 'esp', 'minimum is configurable per suite');
});

test('runts and empties, at offsets inside a larger receive buffer', () => {
  assert.equal(classifyUdpEncap(Buffer.alloc(0), 0, 0).cause, 'empty');
  assert.equal(classifyUdpEncap(Buffer.from([0xff, 0xff]), 0, 2).cause, 'runt');
  assert.equal(classifyUdpEncap(Buffer.from([0, 0, 0]), 0, 3).cause, 'runt');
  const big = Buffer.alloc(100);
  big[50] = 0xff;
  assert.equal(classifyUdpEncap(big, 50, 1).kind, 'keepalive');
  assert.equal(classifyUdpEncap(big, 90, 20).cause, 'empty', 'a range beyond the buffer is refused');
});

test('random datagrams never throw and always get a kind', () => {
  let seed = 3;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 16;
  const into = newUdpEncapClass();
  for (let i = 0; i < 20000; i++) {
    const b = Buffer.alloc(rnd() % 50);
    for (let j = 0; j < b.length; j++) b[j] = i & 1 ? rnd() & 0xff : 0;
    const c = classifyUdpEncap(b, 0, b.length, into);
    assert.ok(['keepalive', 'ike', 'esp', 'malformed'].includes(c.kind));
    assert.equal(c.kind === 'malformed', c.cause !== null);
  }
});

test('plain-socket helpers: the marker exists only on 4500, and only at the socket', () => {
  const ike = Buffer.alloc(IKE_HEADER_LENGTH, 0x21);
  const on4500 = ikeDatagramOf(ike, 4500);
  assert.deepEqual(on4500, Buffer.concat([Buffer.alloc(4), ike]));
  assert.deepEqual(ikeMessageOf(on4500, 4500), ike);
  assert.deepEqual(ikeDatagramOf(ike, 500), ike);
  assert.equal(ikeMessageOf(ike, 500), ike);
  // On 4500 a keepalive, ESP (non-zero SPI) or a runt is not IKE.
  assert.equal(ikeMessageOf(natKeepalive(), 4500), null);
  assert.equal(ikeMessageOf(Buffer.alloc(64, 0x01), 4500), null);
  assert.equal(ikeMessageOf(Buffer.alloc(3), 4500), null);
  assert.equal(ikeMessageOf(prependNonEspMarker(Buffer.alloc(IKE_HEADER_LENGTH - 1)), 4500), null);
});
