import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyCapture } from '../../src/cluster/verify-classify.js';
import { LINKTYPE_ETHERNET, PcapBufferWriter, parsePcap, type PcapCapture } from '../../src/wire/pcap.js';
import { IPPROTO_TCP, writeIpv4Header } from '../../src/wire/ipv4.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { writeEthernetHeader, ETHERTYPE_IPV4 } from '../../src/wire/ethernet.js';

// verify with etcd: node ↔ etcd and etcd ↔ etcd packets are control plane, judged as TLS streams
// (records followed across segments by sequence number), and never mixed into the node ↔ node
// counts that must stay ESP/IKE only.

const NODE = '192.168.7.21';
const PEER = '192.168.7.11';
const ETCD0 = '192.168.7.241';
const ETCD1 = '192.168.7.242';
const ADMIN = '192.168.7.250';
const CP = { addresses: [ETCD0, ETCD1, ADMIN], ports: [2379, 2380] };
const ip = (s: string) => parseIpv4(s)!;

function tcp(src: string, dst: string, sport: number, dport: number, seq: number, payload: Buffer, protocol = IPPROTO_TCP): Buffer {
  const t = Buffer.alloc(20 + payload.length);
  t.writeUInt16BE(sport, 0);
  t.writeUInt16BE(dport, 2);
  t.writeUInt32BE(seq >>> 0, 4);
  t[12] = 5 << 4;
  t[13] = 0x18; // PSH ACK
  payload.copy(t, 20);
  const f = Buffer.alloc(14 + 20 + t.length);
  writeEthernetHeader(f, 0, 0x020000000001, 0x020000000002, ETHERTYPE_IPV4);
  writeIpv4Header(f, 14, { src: ip(src), dst: ip(dst), protocol, payloadLength: t.length });
  t.copy(f, 34);
  return f;
}

/** A TLS application-data record of `n` bytes. */
function record(n: number, type = 23): Buffer {
  const b = Buffer.alloc(5 + n, 0x5a);
  b[0] = type;
  b[1] = 3;
  b[2] = 3;
  b.writeUInt16BE(n, 3);
  return b;
}

function capture(frames: Buffer[]): PcapCapture {
  const w = new PcapBufferWriter(LINKTYPE_ETHERNET, { now: () => 1_700_000_000_000 });
  for (const f of frames) w.writePacket(f);
  const c = parsePcap(w.toBuffer());
  assert.ok(typeof c !== 'string');
  return c;
}

function esp(): Buffer {
  const b = Buffer.alloc(60, 0xab);
  b.writeUInt32BE(0x11223344, 0);
  b.writeUInt32BE(1, 4);
  return b;
}

test('TLS to etcd is control plane; records are followed across segments and retransmissions', () => {
  const big = record(3000);
  const frames = [
    tcp(NODE, ETCD0, 40000, 2379, 1000, Buffer.concat([record(20, 22), record(40)])), // two records in one segment
    tcp(NODE, ETCD0, 40000, 2379, 1070, big.subarray(0, 1400)), // a record cut across three segments
    tcp(NODE, ETCD0, 40000, 2379, 2470, big.subarray(1400, 2800)),
    tcp(NODE, ETCD0, 40000, 2379, 2470, big.subarray(1400, 2800)), // retransmitted
    tcp(NODE, ETCD0, 40000, 2379, 3870, Buffer.concat([big.subarray(2800), record(10)])),
    tcp(ETCD0, NODE, 2379, 40000, 77, Buffer.alloc(0)), // a bare ACK
    tcp(ETCD0, ETCD1, 51000, 2380, 5, record(100)), // peer traffic between members
    tcp(ADMIN, ETCD1, 41000, 2379, 9, record(8)), // the operator's address
  ];
  const v = classifyCapture(capture(frames), [NODE, PEER], CP);
  assert.deepEqual({ tls: v.control_plane!.tls, unsynced: v.control_plane!.unsynced, cleartext: v.control_plane!.cleartext }, { tls: 8, unsynced: 0, cleartext: 0 });
  assert.deepEqual(v.packets, { esp: 0, ike: 0, geneve_cleartext: 0, other: 0 }, 'nothing of it counts as node ↔ node');
  assert.equal(v.control_plane!.pairs[`${NODE}>${ETCD0}`]!.tls, 5);
});

test('cleartext to etcd, or anything but TCP to its ports, fails the verdict; a stream joined mid-record is not judged TLS', () => {
  const frames = [
    tcp(NODE, ETCD0, 40001, 2379, 1, Buffer.from('PUT /v3/kv/put HTTP/1.1\r\nHost: x\r\n\r\n')), // first segment: not a record → unsynced
    tcp(NODE, ETCD0, 40002, 2379, 1, record(10)),
    tcp(NODE, ETCD0, 40002, 2379, 16, Buffer.from('{"key":"L292ZXJsYXk="}')), // at a record boundary, not a record
    tcp(NODE, ETCD0, 40003, 8080, 1, record(10)), // another port
  ];
  const c = capture(frames);
  const v = classifyCapture(c, [NODE, PEER], CP);
  assert.deepEqual({ tls: v.control_plane!.tls, unsynced: v.control_plane!.unsynced, cleartext: v.control_plane!.cleartext }, { tls: 1, unsynced: 1, cleartext: 2 });
  assert.equal(v.encrypted, false);
});

test('node ↔ node stays judged as before when etcd is present', () => {
  const w = new PcapBufferWriter(LINKTYPE_ETHERNET, { now: () => 1_700_000_000_000 });
  w.writeUdp(esp(), { src: ip(NODE), dst: ip(PEER), srcPort: 4500, dstPort: 4500 });
  w.writePacket(tcp(NODE, ETCD0, 40000, 2379, 1, record(30)));
  const c = parsePcap(w.toBuffer());
  assert.ok(typeof c !== 'string');
  const v = classifyCapture(c, [NODE, PEER], CP);
  assert.deepEqual(v.packets, { esp: 1, ike: 0, geneve_cleartext: 0, other: 0 });
  assert.equal(v.control_plane!.tls, 1);
  assert.equal(v.encrypted, true);
  // Without the control plane's addresses (no etcd), the same packet is simply not between nodes.
  const plain = classifyCapture(c, [NODE, PEER]);
  assert.equal(plain.control_plane, undefined);
  assert.equal(plain.skipped.not_between_nodes, 1);
});
