// Property tests: whatever the writers accept, the parsers read back unchanged, and every
// single-bit change of a checksummed header is caught.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseIpv4Header, writeIpv4Header, type Ipv4Header } from '../../src/wire/ipv4.js';
import { buildIpv4UdpPacket, parseUdpHeader, type UdpHeader } from '../../src/wire/udp.js';
import { geneveHeaderLength, newGeneveOption, parseGeneveHeader, readGeneveOption, writeGeneveHeader, type GeneveHeader } from '../../src/wire/geneve.js';
import { parseEthernetHeader, writeEthernetHeader, type EthernetHeader } from '../../src/wire/ethernet.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });

function ok<T>(r: T | string): T {
  if (typeof r === 'string') throw new Error(r);
  return r;
}

test('IPv4: write → parse returns the fields; any flipped header bit is rejected', () => {
  fc.assert(
    fc.property(
      fc.record({
        src: u32, dst: u32, protocol: fc.integer({ min: 0, max: 255 }), payloadLength: fc.integer({ min: 0, max: 200 }),
        ttl: fc.integer({ min: 0, max: 255 }), tos: fc.integer({ min: 0, max: 255 }), identification: u16,
        dontFragment: fc.boolean(), moreFragments: fc.boolean(), fragmentOffset: fc.integer({ min: 0, max: 8191 }).map((n) => n * 8),
        options: fc.integer({ min: 0, max: 10 }).chain((w) => fc.uint8Array({ minLength: w * 4, maxLength: w * 4 })),
      }),
      fc.nat(),
      (f, bitSeed) => {
        const buf = Buffer.alloc(60 + f.payloadLength);
        const hl = writeIpv4Header(buf, 0, f);
        const h = ok<Ipv4Header>(parseIpv4Header(buf, 0, hl + f.payloadLength));
        assert.deepEqual(
          [h.src, h.dst, h.protocol, h.payloadLength, h.ttl, h.tos, h.identification, h.dontFragment, h.moreFragments, h.fragmentOffset, h.optionsLength],
          [f.src, f.dst, f.protocol, f.payloadLength, f.ttl, f.tos, f.identification, f.dontFragment, f.moreFragments, f.fragmentOffset, f.options.length],
        );
        assert.ok(buf.subarray(20, hl).equals(Buffer.from(f.options)));
        const bit = bitSeed % (hl * 8);
        buf[bit >> 3]! ^= 1 << (bit & 7);
        // Every flip either breaks the framing (version, IHL, length) or the checksum.
        assert.equal(typeof parseIpv4Header(buf, 0, hl + f.payloadLength), 'string', `bit ${bit}`);
      },
    ),
    { numRuns: 500 },
  );
});

test('UDP in IPv4: any flipped bit in the UDP header or payload fails the checksum', () => {
  fc.assert(
    fc.property(u32, u32, u16, u16, fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.nat(), (src, dst, sp, dp, payload, bitSeed) => {
      const pkt = buildIpv4UdpPacket({ src, dst, srcPort: sp, dstPort: dp }, payload);
      const ip = ok<Ipv4Header>(parseIpv4Header(pkt));
      const udp = ok<UdpHeader>(parseUdpHeader(pkt, ip.payloadOffset, ip.payloadLength, src, dst));
      assert.deepEqual([udp.srcPort, udp.dstPort, udp.payloadLength], [sp, dp, payload.length]);
      const bit = bitSeed % ((8 + payload.length) * 8);
      if ((bit >> 3) === 4 || (bit >> 3) === 5) return; // Length field: framing, checked elsewhere
      pkt[20 + (bit >> 3)]! ^= 1 << (bit & 7);
      // The one flip that cannot be caught: one that turns the checksum field into 0, "no checksum".
      if (pkt.readUInt16BE(26) === 0) return;
      assert.equal(parseUdpHeader(pkt, ip.payloadOffset, ip.payloadLength, src, dst), 'bad_checksum', `bit ${bit}`);
    }),
    { numRuns: 500 },
  );
});

test('Geneve: write → parse returns VNI, flags and every option', () => {
  const option = fc.record({
    optionClass: u16,
    type: fc.integer({ min: 0, max: 255 }),
    data: fc.integer({ min: 0, max: 31 }).chain((w) => fc.uint8Array({ minLength: w * 4, maxLength: w * 4 })),
  });
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffff }), fc.boolean(), u16, fc.array(option, { maxLength: 6 }), (vni, oam, proto, options) => {
      if (geneveHeaderLength(options) - 8 > 252) return;
      const buf = Buffer.alloc(300);
      const n = writeGeneveHeader(buf, 0, { vni, oam, protocolType: proto, options });
      const h = ok<GeneveHeader>(parseGeneveHeader(buf, 0, n + 10, () => true));
      assert.deepEqual([h.vni, h.oam, h.protocolType, h.optionCount, h.headerLength, h.payloadLength], [vni, oam, proto, options.length, n, 10]);
      assert.equal(h.criticalFlag, options.some((o) => o.type & 0x80));
      const o = newGeneveOption();
      let i = 0;
      for (let p = h.optionsOffset; p < h.optionsOffset + h.optionsLength; p = o.next, i++) {
        ok(readGeneveOption(buf, p, h.optionsOffset + h.optionsLength, o));
        const want = options[i]!;
        assert.deepEqual([o.optionClass, o.type, Buffer.from(buf.subarray(o.dataOffset, o.dataOffset + o.dataLength))], [want.optionClass, want.type, Buffer.from(want.data)]);
      }
      const anyCritical = options.some((x) => x.type & 0x80);
      assert.equal(parseGeneveHeader(buf, 0, n) === 'unknown_critical_option', anyCritical);
    }),
    { numRuns: 500 },
  );
});

test('Ethernet: write → parse', () => {
  const mac = fc.integer({ min: 0, max: 0xffffffffffff });
  fc.assert(
    fc.property(mac, mac, fc.integer({ min: 0x0600, max: 0xffff }).filter((t) => t !== 0x8100), (dst, src, type) => {
      const b = Buffer.alloc(20);
      writeEthernetHeader(b, 0, dst, src, type);
      const h = ok<EthernetHeader>(parseEthernetHeader(b));
      assert.deepEqual([h.dst, h.src, h.etherType, h.payloadLength], [dst, src, type, 6]);
    }),
  );
});
