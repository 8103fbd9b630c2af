import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OverlayEngine, type LocalSpec } from '../../src/overlay/engine.js';
import { NodeOverlay } from '../../src/overlay/node-overlay.js';
import { PacketUnderlay } from '../../src/overlay/packet-underlay.js';
import { UdpUnderlay } from '../../src/overlay/udp-underlay.js';
import { OFF_UDP } from '../../src/overlay/geneve-layout.js';
import { FakeTun, podUdp } from './overlay-test-helpers.js';
import { waitFor } from '../helpers/netns.js';
import { parseIpv4Header } from '../../src/wire/ipv4.js';

const spec = (node: string, id: string, underlay: string, subnet: string, vni: number): LocalSpec => ({ node, systemId: id, underlay, subnet, vni });

test('ESP seam: whole IPv4(UDP 6081(Geneve)) packets out to another layer and back in', async () => {
  const A = spec('a', 'aaaaaa00', '192.168.7.21', '10.254.0.0/24', 1);
  const B = spec('b', 'bbbbbb00', '192.168.7.22', '10.254.1.0/24', 2);
  const tunA = new FakeTun('ta');
  const tunB = new FakeTun('tb');
  const handedToEsp: Buffer[] = [];
  // The "ESP layer" here hands A's outbound packets to B as if decrypted on arrival.
  let underB: PacketUnderlay;
  const underA = new PacketUnderlay((pkts) => { handedToEsp.push(...pkts); underB.deliver(pkts); });
  underB = new PacketUnderlay(() => {});
  const nodeA = new NodeOverlay(new OverlayEngine({ local: A, peers: [B] }), tunA, underA);
  const nodeB = new NodeOverlay(new OverlayEngine({ local: B, peers: [A] }), tunB, underB);
  await nodeA.start();
  await nodeB.start();
  const p1 = podUdp('10.254.0.2', '10.254.1.2', 1000, 53, 'hello');
  const p2 = podUdp('10.254.0.3', '10.254.1.3', 2000, 53, 'world');
  const stray = podUdp('10.254.0.3', '10.254.9.3', 2000, 53, 'nowhere');
  tunA.read([p1, stray, p2]);
  assert.equal(handedToEsp.length, 2);
  for (const h of handedToEsp) {
    assert.equal(h.readUInt16BE(OFF_UDP + 2), 6081, 'the ESP layer sees UDP 6081 flows (its transport-mode selector)');
    assert.ok(h.readUInt16BE(OFF_UDP) >= 49152);
  }
  assert.deepEqual(tunB.written, [p1, p2]);
  assert.equal(nodeA.engine.dropsOut.counts.no_route, 1);
  await nodeA.stop();
  assert.ok(tunA.closed);
  underB.deliver(handedToEsp);
  await nodeB.stop();
  underB.deliver(handedToEsp);
  assert.equal(underB.dropped, 2, 'after close, deliveries are dropped and counted');
});

test('plain UDP underlay on loopback: Geneve to port 6081, source ports from the sending sockets', async () => {
  // Two "nodes" on 127.0.0.21 and 127.0.0.22 (loopback only), on a test port instead of 6081.
  const port = 20000 + (process.pid % 20000);
  const A = spec('a', 'aaaaaa00', '127.0.0.21', '10.254.0.0/24', 1);
  const B = spec('b', 'bbbbbb00', '127.0.0.22', '10.254.1.0/24', 2);
  const tunA = new FakeTun('ta');
  const tunB = new FakeTun('tb');
  const uA = new UdpUnderlay({ address: A.underlay, port, senders: 4 });
  const uB = new UdpUnderlay({ address: B.underlay, port, senders: 4 });
  const nodeA = new NodeOverlay(new OverlayEngine({ local: A, peers: [B] }), tunA, uA);
  const nodeB = new NodeOverlay(new OverlayEngine({ local: B, peers: [A] }), tunB, uB);
  await nodeA.start();
  await nodeB.start();
  try {
    const sent: Buffer[] = [];
    for (let i = 0; i < 40; i++) sent.push(podUdp('10.254.0.2', '10.254.1.2', 3000 + i, 53, `flow ${i}`));
    tunA.read(sent);
    await waitFor(() => tunB.written.length === 40, 'B receives 40 packets', 5000);
    assert.deepEqual(new Set(tunB.written.map((b) => b.toString('hex'))), new Set(sent.map((b) => b.toString('hex'))));
    const reply = podUdp('10.254.1.2', '10.254.0.2', 53, 53, 'reply');
    tunB.read([reply]);
    await waitFor(() => tunA.written.length === 1, 'A receives the reply', 5000);
    assert.deepEqual(tunA.written[0], reply);
    const st = nodeB.engine.status();
    assert.equal(st.tunnels[0]!.packets_in, 40);
    assert.equal(st.tunnels[0]!.packets_out, 1);
    // The flows used the sending sockets' ports: more than one, all of them bound sockets.
    const ports = new Set<number>();
    for (let i = 0; i < 40; i++) ports.add(uA.sourcePort(i * 2654435761 >>> 0));
    assert.ok(ports.size > 1 && ports.size <= 4);
    assert.equal(uA.sendErrors, 0);
  } finally {
    await nodeA.stop();
    await nodeB.stop();
  }
});

test('UDP underlay: a port already taken fails start() with the address named, leaving no socket open', async () => {
  const port = 20000 + ((process.pid + 7) % 20000);
  const first = new UdpUnderlay({ address: '127.0.0.31', port, senders: 1 });
  const sink = { fromUdp() {}, fromIpv4() {} };
  await first.start(sink);
  try {
    const second = new UdpUnderlay({ address: '127.0.0.31', port, senders: 1 });
    await assert.rejects(second.start(sink), new RegExp(`cannot bind UDP 127\\.0\\.0\\.31:${port}: .*EADDRINUSE`));
    await second.close();
  } finally {
    await first.close();
  }
  // The port is free again once closed.
  const third = new UdpUnderlay({ address: '127.0.0.31', port, senders: 1 });
  await third.start(sink);
  await third.close();
});

test('PacketUnderlay.deliverTransport: a sink without fromTransport gets the whole packet, its IPv4 header rebuilt; endBatch reaches flushInbound', async () => {
  const got: Buffer[] = [];
  let flushes = 0;
  const plainSink = { fromUdp: () => {}, fromIpv4: (ps: Buffer[]) => { for (const p of ps) got.push(Buffer.from(p)); } };
  const u = new PacketUnderlay(() => {});
  await u.start(plainSink);
  const payload = Buffer.from('0123456789abcdef');
  const holder = Buffer.concat([Buffer.alloc(5), payload, Buffer.alloc(3)]);
  u.deliverTransport(holder, 5, payload.length, 0xc0a8070b, 0xc0a8070c, 17);
  u.endBatch();
  assert.equal(got.length, 1);
  const h = parseIpv4Header(got[0]!, 0, got[0]!.length, true);
  assert.ok(typeof h !== 'string', 'a valid header, checksum included');
  assert.deepEqual([h.src, h.dst, h.protocol, h.totalLength], [0xc0a8070b, 0xc0a8070c, 17, 20 + payload.length]);
  assert.deepEqual(got[0]!.subarray(20), payload);

  const u2 = new PacketUnderlay(() => {});
  const seen: Array<[number, number, number, string]> = [];
  await u2.start({ fromUdp: () => {}, fromIpv4: () => assert.fail('not for a transport-aware sink'),
    fromTransport: (b, o, l, src, dst, proto) => seen.push([src, dst, proto, b.toString('utf8', o, o + l)]), flushInbound: () => flushes++ });
  u2.deliverTransport(holder, 5, payload.length, 1, 2, 17);
  u2.endBatch();
  assert.deepEqual(seen, [[1, 2, 17, '0123456789abcdef']]);
  assert.equal(flushes, 1);
  await u2.close();
  u2.deliverTransport(holder, 5, payload.length, 1, 2, 17);
  assert.equal(u2.dropped, 1, 'after close: dropped and counted');
});
