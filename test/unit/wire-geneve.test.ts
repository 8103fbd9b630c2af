import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  GENEVE_PROTO_ETHERNET, OVN_OPTION_CLASS, OVN_OPTION_TYPE, geneveHeaderLength, newGeneveHeader, newGeneveOption,
  parseGeneveHeader, readGeneveOption, understandsOvnOption, writeGeneveHeader, type GeneveHeader, type GeneveOption,
} from '../../src/wire/geneve.js';

function ok<T>(r: T | string): T {
  if (typeof r === 'string') assert.fail(`expected a result, got ${r}`);
  return r;
}

test('parses the header OVN sends: one critical option 0x0102/0x80, Ethernet payload', () => {
  // Ver 0, Opt Len 2 words, C set, proto 6558, VNI 0x000005, option class 0102 type 80 len 1, data 00010002.
  const pkt = Buffer.from('02406558000005000102800100010002' + 'ffffffffffff', 'hex');
  const h = ok<GeneveHeader>(parseGeneveHeader(pkt, 0, pkt.length, understandsOvnOption));
  assert.equal(h.version, 0);
  assert.equal(h.criticalFlag, true);
  assert.equal(h.oam, false);
  assert.equal(h.protocolType, GENEVE_PROTO_ETHERNET);
  assert.equal(h.vni, 5);
  assert.equal(h.optionsLength, 8);
  assert.equal(h.optionCount, 1);
  assert.equal(h.criticalOptionCount, 1);
  assert.equal(h.headerLength, 16);
  assert.equal(h.payloadOffset, 16);
  assert.equal(h.payloadLength, 6);
  const o = ok<GeneveOption>(readGeneveOption(pkt, h.optionsOffset, h.optionsOffset + h.optionsLength));
  assert.deepEqual([o.optionClass, o.type, o.critical, o.dataOffset, o.dataLength, o.next], [OVN_OPTION_CLASS, OVN_OPTION_TYPE, true, 12, 4, 16]);
});

test('a critical option the receiver does not understand is reported with its class and type', () => {
  const pkt = Buffer.from('02406558000005000102800100010002', 'hex');
  const into = newGeneveHeader();
  assert.equal(parseGeneveHeader(pkt, 0, pkt.length, undefined, into), 'unknown_critical_option');
  assert.equal(into.rejectedOptionClass, 0x0102);
  assert.equal(into.rejectedOptionType, 0x80);
  // A non-critical unknown option is skipped and the packet accepted.
  const nc = Buffer.from('020065580000050001ff0001deadbeef', 'hex');
  const h = ok<GeneveHeader>(parseGeneveHeader(nc, 0, nc.length, undefined, into));
  assert.equal(h.optionCount, 1);
  assert.equal(h.criticalOptionCount, 0);
  assert.equal(h.rejectedOptionClass, -1);
});

test('the critical bit is checked even when the sender left the C bit clear', () => {
  const pkt = Buffer.from('02006558000005000102800100010002', 'hex');
  assert.equal(parseGeneveHeader(pkt, 0, pkt.length), 'unknown_critical_option');
});

test('write then parse: several options, O bit, VNI extremes, at an offset', () => {
  const options = [
    { optionClass: 0x0102, type: 0x80, data: Buffer.from('00010002', 'hex') },
    { optionClass: 0xffff, type: 0x01, data: Buffer.alloc(124, 7) },
    { optionClass: 0x0000, type: 0x7f, data: Buffer.alloc(0) },
  ];
  const buf = Buffer.alloc(300);
  const n = writeGeneveHeader(buf, 3, { vni: 0xffffff, oam: true, options });
  assert.equal(n, geneveHeaderLength(options));
  assert.equal(n, 8 + 8 + 128 + 4);
  const h = ok<GeneveHeader>(parseGeneveHeader(buf, 3, 200, understandsOvnOption));
  assert.equal(h.vni, 0xffffff);
  assert.equal(h.oam, true);
  assert.equal(h.criticalFlag, true);
  assert.equal(h.optionCount, 3);
  const seen: [number, number, number][] = [];
  const o = newGeneveOption();
  for (let p = h.optionsOffset; p < h.optionsOffset + h.optionsLength; p = o.next) {
    ok(readGeneveOption(buf, p, h.optionsOffset + h.optionsLength, o));
    seen.push([o.optionClass, o.type, o.dataLength]);
  }
  assert.deepEqual(seen, [[0x0102, 0x80, 4], [0xffff, 0x01, 124], [0, 0x7f, 0]]);
  const plain = Buffer.alloc(8);
  writeGeneveHeader(plain, 0, { vni: 0 });
  assert.equal(plain.toString('hex'), '0000655800000000');
});

test('writer refuses what it cannot encode', () => {
  const b = Buffer.alloc(400);
  assert.throws(() => writeGeneveHeader(b, 0, { vni: 0x1000000 }), RangeError);
  assert.throws(() => writeGeneveHeader(b, 0, { vni: -1 }), RangeError);
  assert.throws(() => writeGeneveHeader(b, 0, { vni: 1, options: [{ optionClass: 1, type: 1, data: Buffer.alloc(6) }] }), RangeError);
  assert.throws(() => writeGeneveHeader(b, 0, { vni: 1, options: [{ optionClass: 1, type: 1, data: Buffer.alloc(128) }] }), RangeError);
  const tooMany = Array.from({ length: 3 }, () => ({ optionClass: 1, type: 1, data: Buffer.alloc(120) }));
  assert.throws(() => writeGeneveHeader(b, 0, { vni: 1, options: tooMany }), RangeError, '372 bytes of options exceed 252');
});

test('malformed packets yield causes', () => {
  assert.equal(parseGeneveHeader(Buffer.alloc(7), 0, 7), 'truncated');
  const v1 = Buffer.from('4000655800000500', 'hex');
  assert.equal(parseGeneveHeader(v1, 0, 8), 'bad_version');
  const v3 = Buffer.from('c000655800000500', 'hex');
  assert.equal(parseGeneveHeader(v3, 0, 8), 'bad_version');
  const optBeyond = Buffer.from('0300655800000500' + '00000001', 'hex'); // Opt Len 3 words, only 1 present
  assert.equal(parseGeneveHeader(optBeyond, 0, optBeyond.length), 'truncated');
  const optOverrun = Buffer.from('010065580000050000010002aabbccdd', 'hex'); // option says 2 words, area is 1
  assert.equal(parseGeneveHeader(optOverrun, 0, optOverrun.length), 'bad_option_length');
  const partial = Buffer.from('0100655800000500' + '0001', 'hex');
  assert.equal(parseGeneveHeader(partial, 0, partial.length), 'truncated');
  assert.equal(readGeneveOption(Buffer.from('0001000f', 'hex'), 0, 4), 'bad_option_length');
});

test('random bytes never throw', () => {
  let seed = 7;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 16;
  const into = newGeneveHeader();
  for (let i = 0; i < 20000; i++) {
    const b = Buffer.alloc(rnd() % 64);
    for (let j = 0; j < b.length; j++) b[j] = rnd() & 0xff;
    if (b.length > 0) b[0] = b[0]! & 0x3f; // version 0, so the options walk is exercised
    parseGeneveHeader(b, 0, b.length, understandsOvnOption, into);
  }
});
