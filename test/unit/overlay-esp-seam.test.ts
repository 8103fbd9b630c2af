import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { EspDataPath, type ChildSpec } from '../../src/esp/datapath.js';
import { cidrSelector } from '../../src/wire/traffic-selector.js';
import { OverlayEngine, type LocalSpec } from '../../src/overlay/engine.js';
import { NodeOverlay } from '../../src/overlay/node-overlay.js';
import { PacketUnderlay } from '../../src/overlay/packet-underlay.js';
import { FakeTun, podUdp } from './overlay-test-helpers.js';

// The overlay over the real ESP data path (transport mode, manual keys, UDP 4500 simulated):
// what the agent will wire with IPsec on. Nothing but ESP crosses between the nodes.

interface Node {
  local: LocalSpec;
  tun: FakeTun;
  esp: EspDataPath;
  under: PacketUnderlay;
  overlay: NodeOverlay;
  wire: Array<{ datagram: Buffer; address: string; port: number }>;
}

/**
 * `agentWiring`: the TUN writer the agent gives the data path (transport payloads handed to the
 * overlay with their addresses, one TUN write at the batch's end); otherwise whole rebuilt packets.
 */
function makeNode(local: LocalSpec, peer: LocalSpec, agentWiring = false): Node {
  const tun = new FakeTun(`t-${local.node}`);
  const wire: Node['wire'] = [];
  let under!: PacketUnderlay;
  const esp = new EspDataPath({
    tun: agentWiring
      ? {
        write: (packets) => under.deliver(packets),
        writeTransport: (payload, offset, length, src, dst, protocol) => under.deliverTransport(payload, offset, length, src, dst, protocol),
        endBatch: () => under.endBatch(),
      }
      : { write: (packets) => under.deliver(packets) },
    udp: { send: (d, length, port, address) => wire.push({ datagram: Buffer.from(d.subarray(0, length)), address, port }) },
    now: () => 1_700_000_000_000,
  });
  under = new PacketUnderlay((packets) => esp.onTunPackets(packets));
  const overlay = new NodeOverlay(new OverlayEngine({ local, peers: [peer] }), tun, under);
  return { local, tun, esp, under, overlay, wire };
}

function childSpecs(a: LocalSpec, b: LocalSpec): { a: ChildSpec; b: ChildSpec } {
  // Geneve both ways: UDP between the two underlay addresses (the seed's selectors narrow this to
  // port 6081 in an -in-1/-out-1 pair; one child over all UDP is the same protection here).
  const tsA = [cidrSelector(`${a.underlay}/32`, 17)];
  const tsB = [cidrSelector(`${b.underlay}/32`, 17)];
  const kAB = randomBytes(36);
  const kBA = randomBytes(36);
  const base = { name: 'ovn-bbbbbb-0', mode: 'transport' as const, remotePort: 4500, proposal: 'AES_GCM_16_256' };
  return {
    a: { ...base, local: a.underlay, remote: b.underlay, localTs: tsA, remoteTs: tsB, spiIn: 0x2002, spiOut: 0x1001, keyIn: kBA, keyOut: kAB },
    b: { ...base, local: b.underlay, remote: a.underlay, localTs: tsB, remoteTs: tsA, spiIn: 0x1001, spiOut: 0x2002, keyIn: kAB, keyOut: kBA },
  };
}

for (const agentWiring of [false, true]) test(`IPsec on: overlay packets go through ESP transport mode and come back out as pod packets (${agentWiring ? 'transport payloads to the overlay, one TUN write per batch' : 'whole rebuilt packets'})`, async () => {
  const A: LocalSpec = { node: 'a', systemId: 'aaaaaa00', underlay: '192.168.7.21', subnet: '10.254.0.0/24', vni: 1 };
  const B: LocalSpec = { node: 'b', systemId: 'bbbbbb00', underlay: '192.168.7.22', subnet: '10.254.1.0/24', vni: 2 };
  const a = makeNode(A, B, agentWiring);
  const b = makeNode(B, A, agentWiring);
  await a.overlay.start();
  await b.overlay.start();

  // Strict: before any SA exists, nothing leaves (the ESP path drops and counts, never sends clear).
  a.tun.read([podUdp('10.254.0.2', '10.254.1.2', 1111, 7, 'too early')]);
  assert.equal(a.wire.length, 0);

  const s = childSpecs(A, B);
  b.esp.installChild(s.b);
  a.esp.installChild(s.a);
  const secret = 'pod secret payload';
  const pkts = [podUdp('10.254.0.2', '10.254.1.2', 1111, 7, secret), podUdp('10.254.0.3', '10.254.1.3', 2222, 7, secret)];
  a.tun.read(pkts);
  assert.equal(a.wire.length, 2);
  for (const w of a.wire) {
    assert.equal(w.address, B.underlay);
    assert.equal(w.port, 4500);
    assert.equal(w.datagram.readUInt32BE(0), 0x1001, 'an ESP packet (SPI first) on UDP 4500');
    assert.equal(w.datagram.includes(Buffer.from(secret)), false, 'the pod payload is not visible');
  }
  if (agentWiring) {
    // As the 4500 socket hands over a read: queued one by one, flushed at the batch's end.
    const before = b.tun.writes;
    const read = a.wire.splice(0).map((w) => w.datagram);
    const slab = Buffer.concat(read);
    let at = 0;
    for (const d of read) {
      b.esp.queueUdpEsp(slab, at, d.length, { address: A.underlay, port: 4500 });
      at += d.length;
    }
    assert.equal(b.tun.written.length, 0);
    b.esp.flushUdpEsp();
    assert.equal(b.tun.writes - before, 1, 'one TUN write for the batch');
  } else {
    for (const w of a.wire.splice(0)) b.esp.onUdpEsp(w.datagram, 0, w.datagram.length, { address: A.underlay, port: 4500 });
  }
  assert.deepEqual(b.tun.written, pkts);

  const reply = podUdp('10.254.1.2', '10.254.0.2', 7, 7, 'reply');
  b.tun.read([reply]);
  for (const w of b.wire.splice(0)) a.esp.onUdpEsp(w.datagram, 0, w.datagram.length, { address: B.underlay, port: 4500 });
  assert.deepEqual(a.tun.written, [reply]);
  assert.equal(b.overlay.engine.status().tunnels[0]!.packets_in, 2);
  assert.equal(Object.values(b.overlay.engine.status().drops.inbound).reduce((x, y) => x + y, 0), 0);
  await a.overlay.stop();
  await b.overlay.stop();
});
