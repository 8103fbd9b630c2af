// Known answers for the whole ESP packet: draft-mcgrew-gcm-test-01 section 4 (fixture
// test/fixtures/esp/draft-mcgrew-gcm-test-01-esp.json names its source). Given the SPI, the
// sequence number, key ‖ salt, the IV and the payload, our framing + transform must produce the
// published packet byte for byte, and opening the published packet must give the payload back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fixturesDir } from '../helpers/paths.js';
import { EspGcmTransform } from '../../src/esp/transform.js';
import { OutboundSa, SEQ_HARD_LIMIT } from '../../src/esp/sa-outbound.js';
import { InboundSa } from '../../src/esp/sa-inbound.js';
import { LifetimeLimits } from '../../src/esp/lifetime.js';
import { newEspPacketView, newEspTrailerView, parseEspPacket, parseEspTrailer, espPacketLength } from '../../src/wire/esp.js';

interface Case {
  page: number; key: string; spi: string; seq: string; nonce: string;
  plaintext: string; aad: string; ctext_tag: string; packet: string;
}
const fixture = JSON.parse(readFileSync(path.join(fixturesDir, 'esp', 'draft-mcgrew-gcm-test-01-esp.json'), 'utf8')) as { source: string; cases: Case[] };

function prepare(c: Case) {
  const nonce = Buffer.from(c.nonce, 'hex');
  const keyAndSalt = Buffer.concat([Buffer.from(c.key, 'hex'), nonce.subarray(0, 4)]);
  const iv = nonce.subarray(4, 12);
  const seq = Buffer.from(c.seq, 'hex');
  const esn = seq.length === 8;
  const seqLow = seq.readUInt32BE(esn ? 4 : 0);
  const seqHigh = esn ? seq.readUInt32BE(0) : undefined;
  const plaintext = Buffer.from(c.plaintext, 'hex');
  const trailer = newEspTrailerView();
  // The published plaintext carries its own trailer; its padding must be the RFC 4303 default.
  assert.equal(parseEspTrailer(plaintext, 0, plaintext.length, trailer), null, `page ${c.page}: published padding is monotonic`);
  const payload = plaintext.subarray(0, trailer.payloadLength);
  return { keyAndSalt, iv, spi: parseInt(c.spi, 16), seqLow, seqHigh, esn, plaintext, payload, nextHeader: trailer.nextHeader, packet: Buffer.from(c.packet, 'hex') };
}

test('fixture names its source and holds the 15 AES-128/256 ESP cases', () => {
  assert.match(fixture.source, /draft-mcgrew-gcm-test-01/);
  assert.equal(fixture.cases.length, 15);
});

for (const [i, c] of fixture.cases.entries()) {
  test(`draft-mcgrew-gcm-test-01 case ${i + 1} (page ${c.page}, ${c.key.length * 4}-bit key, ${c.seq.length === 16 ? 'ESN' : '32-bit seq'})`, () => {
    const v = prepare(c);
    const t = new EspGcmTransform(v.keyAndSalt);

    // Seal: exactly the published packet.
    const out = Buffer.alloc(espPacketLength(v.payload.length));
    const n = t.seal(v.spi, v.seqLow, v.seqHigh, v.iv.readUInt32BE(0), v.iv.readUInt32BE(4), Buffer.from(v.payload), 0, v.payload.length, v.nextHeader, out, 0);
    assert.equal(n, v.packet.length);
    assert.equal(out.subarray(0, n).toString('hex'), v.packet.toString('hex'));

    // Open: the published packet gives back the published plaintext (payload ‖ trailer).
    const view = newEspPacketView();
    assert.equal(parseEspPacket(v.packet, 0, v.packet.length, view), null);
    assert.equal(view.spi, v.spi);
    assert.equal(view.seq, v.seqLow);
    const plain = Buffer.alloc(view.ciphertextLength);
    const m = t.open(v.packet, view, v.seqHigh, plain, 0);
    assert.equal(m, v.plaintext.length);
    assert.equal(plain.toString('hex'), v.plaintext.toString('hex'));

    // Any flipped bit anywhere in the packet fails (SPI/seq via the AAD, IV via the nonce).
    for (const bit of [0, 37, 64 + 3, 8 * (v.packet.length - 20), 8 * v.packet.length - 1]) {
      const bad = Buffer.from(v.packet);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      const bv = newEspPacketView();
      assert.equal(parseEspPacket(bad, 0, bad.length, bv), null);
      // Flips in the SPI/seq are checked with the published SPI/seq the AAD expects.
      assert.equal(t.open(bad, bv, v.seqHigh, Buffer.alloc(bv.ciphertextLength), 0), -1, `bit ${bit}`);
    }

    if (v.esn) return; // our SAs use 32-bit sequence numbers (strongSwan negotiates NO_EXT_SEQ)

    // Through the SAs: the outbound SA with the published sequence number and (test-only) IV.
    const limits = new LifetimeLimits(undefined, undefined);
    const outSa = new OutboundSa({ spi: v.spi, key: v.keyAndSalt, limits, testOnlyFirstSeq: v.seqLow, unsafeFixedIvForKnownAnswerTest: v.iv });
    const sealed = Buffer.alloc(espPacketLength(v.payload.length));
    const k = outSa.seal(Buffer.from(v.payload), 0, v.payload.length, v.nextHeader, sealed, 0);
    if (v.seqLow >= SEQ_HARD_LIMIT) {
      // 2^32-1 is a number our sender refuses to use (it never wraps); the transform still can.
      assert.equal(k, -1);
      assert.equal(outSa.hardReason, 'seq');
    } else {
      assert.equal(sealed.subarray(0, k).toString('hex'), v.packet.toString('hex'));
    }
    const inSa = new InboundSa({ spi: v.spi, key: v.keyAndSalt, limits });
    const dec = Buffer.alloc(view.ciphertextLength);
    const trailer = newEspTrailerView();
    assert.equal(inSa.open(v.packet, view, dec, 0, trailer), null);
    assert.equal(dec.subarray(0, trailer.payloadLength).toString('hex'), v.payload.toString('hex'));
    assert.equal(trailer.nextHeader, v.nextHeader);
    // The same packet again is a replay.
    assert.equal(inSa.open(v.packet, view, dec, 0, trailer), 'replay');
  });
}
