import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checksumFold, checksumVerifies, ipv4PseudoHeaderSum } from '../../src/wire/checksum.js';
import { VNET_HDR_LENGTH, offloadCoalesce, offloadSplit, readVnetHeader, writeVnetHeader } from '../../src/native/offload.js';

// The TUN offloads of the native addon against packets built by an independent tool: scapy
// (python3-scapy) made the super-packet, the three segments the kernel's GSO would cut it into
// (MSS 100, IP id and TCP sequence number both wrapping, PSH on the last only) and the coalesced
// packet, checksums and all:
//   IP(src=10.254.1.2, dst=10.254.2.2, id=0xfffe, DF, ttl=63) /
//   TCP(40000 → 5201, seq=0xfffffff0, ack=0x01020304, PA, window 502, NOP NOP Timestamp) / 250 bytes

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const SUPER = hex(
  '4500012efffe40003f0621cc0afe01020afe02029c401451fffffff001020304801801f6400d00000101080a0001e240' +
  '0009fbf1030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930' +
  '373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980' +
  '878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0' +
  'd7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920' +
  '272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970' +
  '777e858c939aa1a8afb6bdc4cbd2');
const SEGMENTS = [
  hex(
    '45000098fffe40003f0622620afe01020afe02029c401451fffffff001020304801001f61d9500000101080a0001e240' +
    '0009fbf1030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930' +
    '373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980' +
    '878e959ca3aab1b8'),
  hex(
    '45000098ffff40003f0622610afe01020afe02029c4014510000005401020304801001f6637900000101080a0001e240' +
    '0009fbf1bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ec' +
    'f3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c' +
    '434a51585f666d74'),
  hex(
    '45000066000040003f0622930afe01020afe02029c401451000000b801020304801801f64fda00000101080a0001e240' +
    '0009fbf17b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e858c939aa1a8' +
    'afb6bdc4cbd2'),
];
// scapy's coalesced packet is byte for byte the super-packet (same id, seq, flags and checksums).
const COALESCED = SUPER;

const TCP_CSUM = 20 + 16;
const GSO_HDR = { flags: 1, gsoType: 1, hdrLen: 52, gsoSize: 100, csumStart: 20, csumOffset: 16 };

function pseudo(p: Buffer, protocol = 6): number {
  return ipv4PseudoHeaderSum(p.readUInt32BE(12), p.readUInt32BE(16), protocol, p.length - 20);
}

/** What the kernel leaves in the TCP checksum of a CHECKSUM_PARTIAL packet: the pseudo-header sum. */
function withPartialChecksum(pkt: Buffer): Buffer {
  const p = Buffer.from(pkt);
  p.writeUInt16BE(checksumFold(pseudo(p)), TCP_CSUM);
  return p;
}

function tcpChecksumGood(pkt: Buffer): boolean {
  return checksumVerifies(pkt, 20, pkt.length - 20, pseudo(pkt));
}

/** Sets a correct TCP checksum after a test changed the segment. */
function refreshTcpChecksum(p: Buffer): Buffer {
  p.writeUInt16BE(0, TCP_CSUM);
  let s = pseudo(p);
  for (let i = 20; i + 1 < p.length; i += 2) s += p.readUInt16BE(i);
  if ((p.length - 20) % 2) s += p[p.length - 1]! << 8;
  p.writeUInt16BE(~checksumFold(s) & 0xffff, TCP_CSUM);
  return p;
}

const plain = (p: Buffer): string => Buffer.concat([Buffer.alloc(VNET_HDR_LENGTH), p]).toString('hex');
const hexes = (bs: Buffer[]): string[] => bs.map((b) => b.toString('hex'));

test('the fixture is what it claims: every scapy packet has good IPv4 and TCP checksums', () => {
  for (const p of [SUPER, ...SEGMENTS, COALESCED]) {
    assert.ok(checksumVerifies(p, 0, 20) && tcpChecksumGood(p));
  }
});

test('a TSO super-packet read from the TUN becomes exactly the segments the kernel GSO would make', () => {
  const frame = Buffer.concat([writeVnetHeader(GSO_HDR), withPartialChecksum(SUPER)]);
  assert.deepEqual(hexes(offloadSplit(frame)), hexes(SEGMENTS));
});

test('a single packet with a partial checksum (CHECKSUM_PARTIAL) gets it completed', () => {
  const frame = Buffer.concat([writeVnetHeader({ ...GSO_HDR, gsoType: 0, gsoSize: 0 }), withPartialChecksum(SEGMENTS[2]!)]);
  assert.deepEqual(hexes(offloadSplit(frame)), hexes([SEGMENTS[2]!]));
  // With no flags the packet passes untouched, even a wrong checksum (the kernel's to judge).
  const bad = Buffer.from(SEGMENTS[1]!);
  bad[TCP_CSUM] = bad[TCP_CSUM]! ^ 0xff;
  assert.deepEqual(hexes(offloadSplit(Buffer.concat([Buffer.alloc(VNET_HDR_LENGTH), bad]))), hexes([bad]));
});

test('a UDP packet with a partial checksum gets it completed too', () => {
  // 10.0.0.1:1000 → 10.0.0.2:2000, 4 bytes of payload.
  const partial = hex('4500002000004000401100000a0000010a00000203e807d0000c0000deadbeef');
  partial.writeUInt16BE(checksumFold(pseudo(partial, 17)), 26);
  const out = offloadSplit(Buffer.concat([writeVnetHeader({ flags: 1, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 20, csumOffset: 6 }), partial]));
  assert.equal(out.length, 1);
  assert.ok(checksumVerifies(out[0]!, 20, 12, pseudo(out[0]!, 17)));
  assert.notEqual(out[0]!.readUInt16BE(26), 0);
});

test('consecutive segments of one flow coalesce into one GSO frame the kernel can take', () => {
  const frames = offloadCoalesce(SEGMENTS);
  assert.equal(frames.length, 1);
  const f = frames[0]!;
  assert.deepEqual(readVnetHeader(f), GSO_HDR);
  // Exactly scapy's coalesced packet, but for the TCP checksum, which is left partial (the
  // pseudo-header sum) as for any CHECKSUM_PARTIAL packet.
  assert.equal(f.subarray(VNET_HDR_LENGTH).toString('hex'), withPartialChecksum(COALESCED).toString('hex'));
  // And splitting it again gives back the very segments.
  assert.deepEqual(hexes(offloadSplit(f)), hexes(SEGMENTS));
});

test('segments that may not coalesce pass through as they are, in order', () => {
  // A bad TCP checksum: never merged (the kernel would trust the merged frame), never fixed.
  const bad = Buffer.from(SEGMENTS[1]!);
  bad[60] = bad[60]! ^ 1;
  assert.deepEqual(hexes(offloadCoalesce([SEGMENTS[0]!, bad])), [plain(SEGMENTS[0]!), plain(bad)]);
  // Out of order: a gap in the sequence numbers ends the run.
  const swapped = [SEGMENTS[0]!, SEGMENTS[2]!, SEGMENTS[1]!];
  assert.deepEqual(hexes(offloadCoalesce(swapped)), swapped.map(plain));
  // Different TCP options (another timestamp) end the run too.
  const ts = Buffer.from(SEGMENTS[1]!);
  ts[50] = ts[50]! ^ 1;
  refreshTcpChecksum(ts);
  assert.ok(tcpChecksumGood(ts));
  assert.deepEqual(hexes(offloadCoalesce([SEGMENTS[0]!, ts])), [plain(SEGMENTS[0]!), plain(ts)]);
  // A pure ACK (no payload) is never held back.
  const ack = refreshTcpChecksum(Buffer.from(SEGMENTS[0]!.subarray(0, 52)));
  ack.writeUInt16BE(52, 2);
  assert.equal(offloadCoalesce([ack, ack]).length, 2);
});

test('two interleaved flows coalesce each into its own frame', () => {
  const other = SEGMENTS.map((s) => {
    const p = Buffer.from(s);
    p.writeUInt16BE(40001, 20); // another source port: another flow
    return refreshTcpChecksum(p);
  });
  const frames = offloadCoalesce([SEGMENTS[0]!, other[0]!, SEGMENTS[1]!, other[1]!, SEGMENTS[2]!, other[2]!]);
  assert.equal(frames.length, 2);
  assert.deepEqual(hexes(offloadSplit(frames[0]!)), hexes(SEGMENTS));
  assert.deepEqual(hexes(offloadSplit(frames[1]!)), hexes(other));
});

test('frames the splitter cannot take are refused with a RangeError', () => {
  assert.throws(() => offloadSplit(Buffer.alloc(5)), /malformed/);
  assert.throws(() => offloadSplit(Buffer.concat([writeVnetHeader({ ...GSO_HDR, gsoType: 4 }), SUPER])), /unsupported GSO/);
  assert.throws(() => offloadSplit(Buffer.concat([writeVnetHeader({ ...GSO_HDR, gsoSize: 0 }), SUPER])), /malformed/);
  assert.throws(() => offloadSplit(Buffer.concat([writeVnetHeader(GSO_HDR), SUPER.subarray(0, 30)])), /malformed/);
  assert.throws(() => offloadSplit(Buffer.concat([writeVnetHeader({ ...GSO_HDR, gsoType: 0, csumStart: 400 }), SUPER])), /malformed/);
  assert.throws(() => offloadCoalesce([SUPER, 'x' as unknown as Buffer]), /not a Uint8Array/);
});

test('any bytes at all: the splitter and the coalescer answer or refuse, never crash', () => {
  fc.assert(fc.property(
    fc.record({ hdr: fc.uint8Array({ minLength: 10, maxLength: 10 }), body: fc.uint8Array({ maxLength: 600 }), base: fc.boolean() }),
    ({ hdr, body, base }) => {
      // Half the cases start from the real super-packet with its headers overwritten, to reach deep paths.
      const pkt = base ? Buffer.from(SUPER) : Buffer.from(body);
      if (base) Buffer.from(body).copy(pkt, 0, 0, Math.min(body.length, 40));
      try {
        for (const s of offloadSplit(Buffer.concat([hdr, pkt]))) assert.ok(s.length <= pkt.length);
      } catch (e) {
        assert.ok(e instanceof RangeError);
      }
      const frames = offloadCoalesce([pkt, pkt, Buffer.from(body)]);
      assert.ok(frames.length >= 1 && frames.length <= 3);
    },
  ), { numRuns: 3000 });
});

test('any payload length and MSS: segments carry the payload in order, every checksum verifies, and they coalesce back', () => {
  fc.assert(fc.property(
    fc.record({ payload: fc.uint8Array({ minLength: 1, maxLength: 9000 }), mss: fc.integer({ min: 1, max: 1460 }), seq: fc.nat({ max: 0xffffffff }) }),
    ({ payload, mss, seq }) => {
      const sup = Buffer.concat([Buffer.from(SUPER.subarray(0, 52)), payload]);
      sup.writeUInt16BE(sup.length, 2);
      sup.writeUInt32BE(seq, 24);
      const segs = offloadSplit(Buffer.concat([writeVnetHeader({ ...GSO_HDR, gsoSize: mss }), withPartialChecksum(sup)]));
      assert.equal(segs.length, Math.ceil(payload.length / mss));
      segs.forEach((s, i) => {
        assert.ok(checksumVerifies(s, 0, 20), 'IPv4 checksum');
        assert.ok(tcpChecksumGood(s), 'TCP checksum');
        assert.equal(s.readUInt32BE(24), (seq + i * mss) >>> 0);
        assert.equal(s[33], i === segs.length - 1 ? 0x18 : 0x10, 'PSH on the last segment only');
      });
      assert.deepEqual(Buffer.concat(segs.map((s) => s.subarray(52))), Buffer.from(payload));
      // Equal-sized segments of up to 64 coalesce into frames that split back into the same segments.
      const frames = offloadCoalesce(segs);
      assert.deepEqual(hexes(frames.flatMap((f) => offloadSplit(f))), hexes(segs));
    },
  ), { numRuns: 300 });
});
