import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  decrementIpv4Ttl, isIpv4Fragment, newIpv4Header, parseIpv4Header, refreshIpv4Checksum, writeIpv4Header, IPPROTO_UDP, IPPROTO_ICMP,
  type Ipv4Header,
} from '../../src/wire/ipv4.js';
import { formatIpv4 } from '../../src/wire/address.js';
import { checksumVerifies } from '../../src/wire/checksum.js';

const textbook = (): Buffer => Buffer.from('45000073000040004011b861c0a80001c0a800c7', 'hex');

function ok(r: Ipv4Header | string): Ipv4Header {
  if (typeof r === 'string') assert.fail(`expected a header, got ${r}`);
  return r;
}

describe('parseIpv4Header', () => {
  test('reads every field of a known header', () => {
    const pkt = Buffer.concat([textbook(), Buffer.alloc(0x73 - 20, 0xab)]);
    const h = ok(parseIpv4Header(pkt));
    assert.equal(h.headerLength, 20);
    assert.equal(h.totalLength, 0x73);
    assert.equal(h.tos, 0);
    assert.equal(h.identification, 0);
    assert.equal(h.dontFragment, true);
    assert.equal(h.moreFragments, false);
    assert.equal(h.fragmentOffset, 0);
    assert.equal(h.ttl, 64);
    assert.equal(h.protocol, IPPROTO_UDP);
    assert.equal(h.checksum, 0xb861);
    assert.equal(formatIpv4(h.src), '192.168.0.1');
    assert.equal(formatIpv4(h.dst), '192.168.0.199');
    assert.equal(h.payloadOffset, 20);
    assert.equal(h.payloadLength, 0x73 - 20);
    assert.equal(isIpv4Fragment(h), false);
  });

  test('parses at an offset into a reused result object', () => {
    const pkt = Buffer.concat([Buffer.alloc(14, 0xee), textbook(), Buffer.alloc(0x73 - 20)]);
    const into = newIpv4Header();
    const r = parseIpv4Header(pkt, 14, pkt.length - 14, true, into);
    assert.equal(r, into);
    assert.equal(into.offset, 14);
    assert.equal(into.payloadOffset, 34);
  });

  test('bytes beyond Total Length (link padding) are not payload', () => {
    const pkt = Buffer.alloc(60);
    writeIpv4Header(pkt, 0, { src: 1, dst: 2, protocol: IPPROTO_ICMP, payloadLength: 8 });
    const h = ok(parseIpv4Header(pkt));
    assert.equal(h.totalLength, 28);
    assert.equal(h.payloadLength, 8);
  });

  test('options: IHL 6 moves the payload and is covered by the checksum', () => {
    const pkt = Buffer.alloc(40);
    const n = writeIpv4Header(pkt, 0, { src: 0x0a000001, dst: 0x0a000002, protocol: IPPROTO_UDP, payloadLength: 16, options: Buffer.from([0x94, 0x04, 0, 0]) });
    assert.equal(n, 24);
    const h = ok(parseIpv4Header(pkt));
    assert.equal(h.headerLength, 24);
    assert.equal(h.optionsOffset, 20);
    assert.equal(h.optionsLength, 4);
    assert.equal(h.payloadOffset, 24);
    pkt[21] = 0x05; // damage the option
    assert.equal(parseIpv4Header(pkt), 'bad_checksum');
  });

  test('fragment fields', () => {
    const pkt = Buffer.alloc(48);
    writeIpv4Header(pkt, 0, { src: 1, dst: 2, protocol: IPPROTO_UDP, payloadLength: 24, identification: 0xbeef, moreFragments: true, fragmentOffset: 1480 });
    const h = ok(parseIpv4Header(pkt));
    assert.equal(h.identification, 0xbeef);
    assert.equal(h.moreFragments, true);
    assert.equal(h.dontFragment, false);
    assert.equal(h.fragmentOffset, 1480);
    assert.equal(isIpv4Fragment(h), true);
  });

  test('bad input yields a cause, never an exception', () => {
    const good = Buffer.concat([textbook(), Buffer.alloc(0x73 - 20)]);
    assert.equal(parseIpv4Header(Buffer.alloc(0)), 'truncated');
    assert.equal(parseIpv4Header(good.subarray(0, 19)), 'truncated');
    assert.equal(parseIpv4Header(good.subarray(0, 0x72)), 'truncated', 'Total Length beyond the buffer');
    assert.equal(parseIpv4Header(good, 0, 50), 'truncated', 'Total Length beyond the stated length');
    const v6 = Buffer.from(good);
    v6[0] = 0x65;
    assert.equal(parseIpv4Header(v6), 'bad_version');
    for (const ihl of [0, 1, 4]) {
      const b = Buffer.from(good);
      b[0] = 0x40 | ihl;
      assert.equal(parseIpv4Header(b), 'bad_header_length', `IHL ${ihl}`);
    }
    const longIhl = Buffer.from(good.subarray(0, 30));
    longIhl[0] = 0x4f; // 60-byte header in a 30-byte buffer
    assert.equal(parseIpv4Header(longIhl), 'truncated');
    const shortTotal = Buffer.from(good);
    shortTotal.writeUInt16BE(19, 2);
    assert.equal(parseIpv4Header(shortTotal, 0, good.length, false), 'bad_total_length');
    const badSum = Buffer.from(good);
    badSum[11]! ^= 1;
    assert.equal(parseIpv4Header(badSum), 'bad_checksum');
    assert.equal(ok(parseIpv4Header(badSum, 0, badSum.length, false)).checksum, 0xb860);
    assert.equal(parseIpv4Header(good, 10, 200), 'truncated', 'range beyond the buffer');
  });

  test('random bytes never throw', () => {
    let seed = 12345;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 16;
    const into = newIpv4Header();
    for (let i = 0; i < 20000; i++) {
      const b = Buffer.alloc(rnd() % 80);
      for (let j = 0; j < b.length; j++) b[j] = rnd() & 0xff;
      if (b.length > 0 && (i & 1)) b[0] = 0x40 | (b[0]! & 0x0f);
      parseIpv4Header(b, 0, b.length, (i & 2) === 0, into);
    }
  });
});

describe('writeIpv4Header', () => {
  test('round-trips and sets a verifying checksum', () => {
    const pkt = Buffer.alloc(100);
    const n = writeIpv4Header(pkt, 10, { src: 0xc0000201, dst: 0xc6336402, protocol: 50, payloadLength: 70, ttl: 7, tos: 0xb8, identification: 4242, dontFragment: true });
    assert.equal(n, 20);
    assert.ok(checksumVerifies(pkt, 10, 20));
    const h = ok(parseIpv4Header(pkt, 10, 90));
    assert.deepEqual([h.src, h.dst, h.protocol, h.totalLength, h.ttl, h.tos, h.identification, h.dontFragment], [0xc0000201, 0xc6336402, 50, 90, 7, 0xb8, 4242, true]);
  });

  test('rejects what cannot be encoded', () => {
    const b = Buffer.alloc(100);
    assert.throws(() => writeIpv4Header(b, 0, { src: 1, dst: 2, protocol: 17, payloadLength: 65516 }), RangeError);
    assert.throws(() => writeIpv4Header(b, 0, { src: 1, dst: 2, protocol: 17, payloadLength: 0, options: Buffer.alloc(3) }), RangeError);
    assert.throws(() => writeIpv4Header(b, 0, { src: 1, dst: 2, protocol: 17, payloadLength: 0, options: Buffer.alloc(44) }), RangeError);
    assert.throws(() => writeIpv4Header(b, 0, { src: 1, dst: 2, protocol: 17, payloadLength: 0, fragmentOffset: 7 }), RangeError);
    assert.throws(() => writeIpv4Header(b, 90, { src: 1, dst: 2, protocol: 17, payloadLength: 0 }), RangeError);
  });

  test('TTL decrement keeps the checksum valid; refresh recomputes after an edit', () => {
    const pkt = Buffer.alloc(20);
    writeIpv4Header(pkt, 0, { src: 0x0a000001, dst: 0x0a000002, protocol: 17, payloadLength: 0, ttl: 3 });
    assert.equal(decrementIpv4Ttl(pkt, 0), 2);
    assert.ok(checksumVerifies(pkt, 0, 20));
    assert.equal(decrementIpv4Ttl(pkt, 0), 1);
    assert.equal(decrementIpv4Ttl(pkt, 0), 0);
    assert.ok(checksumVerifies(pkt, 0, 20));
    assert.equal(decrementIpv4Ttl(pkt, 0), 0);
    pkt.writeUInt32BE(0x0a0000ff, 16);
    refreshIpv4Checksum(pkt, 0);
    assert.ok(checksumVerifies(pkt, 0, 20));
  });
});
