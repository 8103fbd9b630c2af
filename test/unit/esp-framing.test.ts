// ESP framing (RFC 4303 §2): lengths, monotonic padding, and parsers that answer bad input with
// a cause instead of throwing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ESP_MIN_PACKET_LENGTH,
  espEncryptedLength,
  espPacketLength,
  espPaddingLength,
  newEspPacketView,
  newEspTrailerView,
  parseEspPacket,
  parseEspTrailer,
  peekEspSpi,
  writeEspTrailer,
} from '../../src/wire/esp.js';

test('padding brings payload + 2 to a multiple of 4', () => {
  for (let n = 0; n < 64; n++) {
    const pad = espPaddingLength(n);
    assert.ok(pad >= 0 && pad <= 3);
    assert.equal((n + pad + 2) % 4, 0);
    assert.equal(espEncryptedLength(n), n + pad + 2);
    assert.equal(espPacketLength(n), 8 + 8 + n + pad + 2 + 16);
  }
  assert.equal(espPacketLength(0), ESP_MIN_PACKET_LENGTH);
  assert.equal(ESP_MIN_PACKET_LENGTH, 36);
});

test('trailer: padding 1,2,3,… then pad length and next header; parse reads it back', () => {
  for (let n = 0; n < 12; n++) {
    const buf = Buffer.alloc(n + 8, 0xee);
    const end = writeEspTrailer(buf, 0, n, 17);
    const pad = espPaddingLength(n);
    assert.equal(end, n + pad + 2);
    for (let i = 0; i < pad; i++) assert.equal(buf[n + i], i + 1);
    assert.equal(buf[n + pad], pad);
    assert.equal(buf[n + pad + 1], 17);
    const v = newEspTrailerView();
    assert.equal(parseEspTrailer(buf, 0, end, v), null);
    assert.deepEqual(v, { payloadLength: n, padLength: pad, nextHeader: 17 });
  }
});

test('trailer: longer monotonic padding (TFC-style, up to 255) is accepted', () => {
  const buf = Buffer.alloc(4 + 255 + 2);
  for (let i = 0; i < 255; i++) buf[4 + i] = i + 1;
  buf[259] = 255;
  buf[260] = 4;
  const v = newEspTrailerView();
  assert.equal(parseEspTrailer(buf, 0, buf.length, v), null);
  assert.equal(v.payloadLength, 4);
});

test('trailer: any padding other than 1,2,3,… is bad_padding', () => {
  const v = newEspTrailerView();
  // zeros instead of 1,2
  assert.equal(parseEspTrailer(Buffer.from([0xaa, 0xbb, 0, 0, 2, 4]), 0, 6, v), 'bad_padding');
  // 1,3
  assert.equal(parseEspTrailer(Buffer.from([0xaa, 0xbb, 1, 3, 2, 4]), 0, 6, v), 'bad_padding');
  // 2,1
  assert.equal(parseEspTrailer(Buffer.from([0xaa, 0xbb, 2, 1, 2, 4]), 0, 6, v), 'bad_padding');
  // pad length longer than the body
  assert.equal(parseEspTrailer(Buffer.from([1, 2, 3, 4]), 0, 4, v), 'bad_padding');
  assert.equal(parseEspTrailer(Buffer.from([1, 2, 200, 4]), 0, 4, v), 'bad_padding');
  // fewer than 2 bytes
  assert.equal(parseEspTrailer(Buffer.from([4]), 0, 1, v), 'truncated');
  assert.equal(parseEspTrailer(Buffer.alloc(0), 0, 0, v), 'truncated');
});

test('packet parse: every length below the minimum is truncated, never a throw', () => {
  const buf = Buffer.alloc(64, 0x5a);
  const v = newEspPacketView();
  for (let len = 0; len < ESP_MIN_PACKET_LENGTH; len++) assert.equal(parseEspPacket(buf, 0, len, v), 'truncated', `length ${len}`);
  assert.equal(parseEspPacket(buf, 0, 36, v), null);
  // an encrypted part that does not end on a 4-byte boundary
  for (const len of [37, 38, 39]) assert.equal(parseEspPacket(buf, 0, len, v), 'misaligned');
  assert.equal(parseEspPacket(buf, 0, 40, v), null);
  // a range outside the buffer
  assert.equal(parseEspPacket(buf, 40, 36, v), 'truncated');
  assert.equal(parseEspPacket(buf, -1, 36, v), 'truncated');
});

test('packet parse: fields and offsets', () => {
  const buf = Buffer.alloc(10 + 44);
  buf.writeUInt32BE(0xdeadbeef, 10);
  buf.writeUInt32BE(0x01020304, 14);
  const v = newEspPacketView();
  assert.equal(parseEspPacket(buf, 10, 44, v), null);
  assert.deepEqual(v, { spi: 0xdeadbeef, seq: 0x01020304, ivOffset: 18, ciphertextOffset: 26, ciphertextLength: 12, icvOffset: 38 });
  assert.equal(peekEspSpi(buf, 10, 44), 0xdeadbeef);
  assert.equal(peekEspSpi(buf, 10, 3), -1);
  assert.equal(peekEspSpi(buf, 52, 4), -1);
});
