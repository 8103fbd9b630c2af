import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ExchangeType, Notify, PayloadType, TransformType } from '../../src/ike/constants.js';
import { decodeHeader, encodeHeader } from '../../src/ike/message/header.js';
import { decodeMessage, decodeReassembled, encodeFragments, encodePlain, encodeProtected, type MessageFrame } from '../../src/ike/message/message.js';
import type { Payload } from '../../src/ike/message/payloads.js';
import { FragmentAssembler } from '../../src/ike/message/reassembly.js';

const spiI = Buffer.from('0102030405060708', 'hex');
const spiR = Buffer.from('1112131415161718', 'hex');
const frame: MessageFrame = { spiI, spiR, exchangeType: ExchangeType.IKE_AUTH, flags: 0x08, messageId: 1 };
const key = Buffer.alloc(36, 0x42);

const every: Payload[] = [
  { type: PayloadType.SA, proposals: [
    { num: 1, protocolId: 1, spi: Buffer.alloc(0), transforms: [
      { type: TransformType.ENCR, id: 20, keyLength: 256 }, { type: TransformType.PRF, id: 5 }, { type: TransformType.DH, id: 14 }] },
    { num: 2, protocolId: 3, spi: Buffer.from('cafebabe', 'hex'), transforms: [{ type: TransformType.ENCR, id: 20, keyLength: 128 }, { type: TransformType.ESN, id: 0 }] },
  ] },
  { type: PayloadType.KE, group: 19, data: Buffer.alloc(64, 7) },
  { type: PayloadType.IDi, idType: 2, data: Buffer.from('a.example') },
  { type: PayloadType.IDr, idType: 1, data: Buffer.from([10, 0, 0, 1]) },
  { type: PayloadType.CERT, encoding: 4, data: Buffer.alloc(300, 3) },
  { type: PayloadType.CERTREQ, encoding: 4, data: Buffer.alloc(20, 9) },
  { type: PayloadType.AUTH, method: 14, data: Buffer.alloc(80, 5) },
  { type: PayloadType.NONCE, data: Buffer.alloc(32, 1) },
  { type: PayloadType.NOTIFY, protocolId: 3, spi: Buffer.from('01020304', 'hex'), notifyType: Notify.REKEY_SA, data: Buffer.alloc(0) },
  { type: PayloadType.NOTIFY, protocolId: 0, spi: Buffer.alloc(0), notifyType: Notify.SIGNATURE_HASH_ALGORITHMS, data: Buffer.from('000200030004', 'hex') },
  { type: PayloadType.DELETE, protocolId: 3, spiSize: 4, spis: [Buffer.from('aabbccdd', 'hex'), Buffer.from('00000101', 'hex')] },
  { type: PayloadType.VENDOR, data: Buffer.from('vendor') },
  { type: PayloadType.TSi, selectors: [{ tsType: 7, protocol: 17, startPort: 6081, endPort: 6081, startAddr: Buffer.from([10, 1, 0, 0]), endAddr: Buffer.from([10, 1, 0, 255]) }] },
  { type: PayloadType.TSr, selectors: [{ tsType: 8, protocol: 0, startPort: 0, endPort: 65535, startAddr: Buffer.alloc(16, 0), endAddr: Buffer.alloc(16, 0xff) }] },
];

/** Drops `critical: false` that decoding adds, for comparisons. */
function norm(p: Payload[]): unknown {
  return JSON.parse(JSON.stringify(p.map((x) => ({ ...x, critical: !!x.critical }))));
}

test('IKE header encodes byte-exactly (RFC 7296 §3.1 layout)', () => {
  const b = encodeHeader({ spiI, spiR, nextPayload: 33, exchangeType: 34, flags: 0x08, messageId: 0x01020304, length: 28 });
  assert.equal(b.toString('hex'), '0102030405060708' + '1112131415161718' + '21' + '20' + '22' + '08' + '01020304' + '0000001c');
  const h = decodeHeader(b);
  assert.ok(h.ok);
  assert.equal(h.value.majorVersion, 2);
  assert.equal(h.value.messageId, 0x01020304);
});

test('SA payload with a Key Length attribute encodes as RFC 7296 §3.3 lays it out', () => {
  const bytes = encodePlain({ ...frame, exchangeType: 34, messageId: 0 }, [
    { type: PayloadType.SA, proposals: [{ num: 1, protocolId: 1, spi: Buffer.alloc(0), transforms: [{ type: 1, id: 20, keyLength: 256 }, { type: 2, id: 5 }] }] },
  ]);
  const sa = bytes.subarray(28).toString('hex');
  // generic header: next 0, flags 0, length 4+8+12+8 = 32
  // proposal: last 0, rsvd, len 28, num 1, proto 1, spi size 0, 2 transforms
  // transform 1: more (3), rsvd, len 12, type 1, rsvd, id 20, attr 0x800e 0x0100
  // transform 2: last (0), rsvd, len 8, type 2, rsvd, id 5
  assert.equal(sa, '00000020' + '0000001c01010002' + '0300000c01000014800e0100' + '0000000802000005');
});

test('every payload type round-trips through a plain message', () => {
  const bytes = encodePlain(frame, every);
  const r = decodeMessage(bytes, () => undefined);
  assert.ok(r.ok && r.value.kind === 'message');
  assert.deepEqual(norm(r.value.message.payloads), norm(every));
  // and re-encoding gives the same bytes
  assert.deepEqual(encodePlain(frame, r.value.message.payloads), bytes);
});

test('SK payload (RFC 5282): round trip; AAD covers the header; tampering fails the ICV', () => {
  const iv = Buffer.from('0000000000000001', 'hex');
  const bytes = encodeProtected(frame, every, key, iv);
  assert.equal(bytes[16], PayloadType.SK);
  assert.equal(bytes.readUInt32BE(24), bytes.length);
  assert.equal(bytes[28], PayloadType.SA, 'SK next payload is the first inner payload');
  assert.deepEqual(bytes.subarray(32, 40), iv);
  const r = decodeMessage(bytes, () => key);
  assert.ok(r.ok && r.value.kind === 'message');
  assert.ok(r.value.message.protected);
  assert.deepEqual(norm(r.value.message.payloads), norm(every));
  for (const pos of [19, 23, 30, 40, bytes.length - 1]) {
    const t = Buffer.from(bytes);
    t[pos]! ^= 0x01;
    const x = decodeMessage(t, () => key);
    assert.ok(!x.ok, `tampered byte ${pos} is refused`);
    assert.ok(['decrypt-failed', 'bad-length', 'bad-value'].includes(x.error.cause), `byte ${pos}: ${x.error.cause}`);
  }
  const wrongKey = decodeMessage(bytes, () => Buffer.alloc(36, 1));
  assert.ok(!wrongKey.ok && wrongKey.error.cause === 'decrypt-failed');
});

test('SKF fragments (RFC 7383): split under the size limit, each authenticated, reassembled in any order', () => {
  let n = 0;
  const big: Payload[] = [...every, { type: PayloadType.CERT, encoding: 4, data: Buffer.alloc(3000, 0x5a) }];
  const frags = encodeFragments(frame, big, key, () => { const b = Buffer.alloc(8); b.writeUInt32BE(++n, 4); return b; }, 576);
  assert.ok(frags.length >= 6);
  for (const f of frags) assert.ok(f.length <= 576);
  const asm = new FragmentAssembler();
  let done: ReturnType<FragmentAssembler['add']>;
  const order = [...frags.keys()].reverse();
  for (const i of order) {
    const r = decodeMessage(frags[i]!, () => key);
    assert.ok(r.ok && r.value.kind === 'fragment');
    assert.equal(r.value.fragment.total, frags.length);
    done = asm.add(r.value.fragment);
    if (i !== order[order.length - 1]) assert.equal(done, undefined);
  }
  assert.ok(done! && done !== 'rejected');
  const m = decodeReassembled(done.header, done.innerFirst, done.content);
  assert.ok(m.ok);
  assert.deepEqual(norm(m.value.payloads), norm(big));
});

test('unknown payloads: non-critical skipped, critical refused with UNSUPPORTED_CRITICAL_PAYLOAD', () => {
  const unknown = (critical: boolean): Payload => ({ type: 200, critical, raw: Buffer.from('xyz'), unknown: true } as Payload);
  const ok = decodeMessage(encodePlain(frame, [unknown(false), { type: PayloadType.NONCE, data: Buffer.alloc(16) }]), () => undefined);
  assert.ok(ok.ok && ok.value.kind === 'message');
  assert.equal(ok.value.message.payloads.filter((p) => !('unknown' in p)).length, 1);
  const bad = decodeMessage(encodePlain(frame, [unknown(true)]), () => undefined);
  assert.ok(!bad.ok);
  assert.equal(bad.error.notify, Notify.UNSUPPORTED_CRITICAL_PAYLOAD);
  assert.equal(bad.error.payloadType, 200);
  // The critical bit on a known payload is fine.
  const known = decodeMessage(encodePlain(frame, [{ type: PayloadType.NONCE, critical: true, data: Buffer.alloc(16) }]), () => undefined);
  assert.ok(known.ok);
});

test('malformed input gives typed errors (INVALID_SYNTAX), never throws', () => {
  const good = encodePlain(frame, every);
  const cases: Buffer[] = [
    Buffer.alloc(0), Buffer.alloc(27), good.subarray(0, 40),
    (() => { const b = Buffer.from(good); b[17] = 0x10; return b; })(), // IKEv1 version
    (() => { const b = Buffer.from(good); b.writeUInt16BE(0xffff, 30); return b; })(), // payload length overrun
    (() => { const b = Buffer.from(good); b.writeUInt16BE(3, 30); return b; })(), // payload length < 4
  ];
  for (const c of cases) {
    const r = decodeMessage(c, () => key);
    assert.ok(!r.ok);
  }
  const v1 = decodeMessage(cases[3]!, () => key);
  assert.ok(!v1.ok && v1.error.notify === Notify.INVALID_MAJOR_VERSION);
});

test('property: no byte string makes the decoder throw; mutations of valid messages never throw', () => {
  const base = [encodePlain(frame, every), encodeProtected(frame, every, key, Buffer.alloc(8, 1))];
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
    decodeMessage(Buffer.from(bytes), () => key);
  }), { numRuns: 2000 });
  fc.assert(fc.property(fc.integer({ min: 0, max: 1 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (which, muts) => {
    const b = Buffer.from(base[which]!);
    for (const [pos, val] of muts) b[pos % b.length] = val;
    decodeMessage(b, () => key);
  }), { numRuns: 3000 });
  // Mutations that keep the header valid but change a payload length land in typed errors.
  fc.assert(fc.property(fc.integer({ min: 28, max: base[0]!.length - 1 }), fc.integer({ min: 0, max: 255 }), (pos, val) => {
    const b = Buffer.from(base[0]!);
    b[pos] = val;
    const r = decodeMessage(b, () => key);
    if (!r.ok) assert.ok(typeof r.error.cause === 'string');
  }), { numRuns: 3000 });
});
