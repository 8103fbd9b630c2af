import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { EspDataPath, type ChildSpec } from '../../src/esp/datapath.js';
import { cidrSelector } from '../../src/wire/traffic-selector.js';
import { OverlayEngine, type LocalSpec } from '../../src/overlay/engine.js';
import { NodeOverlay } from '../../src/overlay/node-overlay.js';
import { PacketUnderlay } from '../../src/overlay/packet-underlay.js';
import { SwitchingUnderlay } from '../../src/overlay/switching-underlay.js';
import type { PeerSpec } from '../../src/overlay/peer-table.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { FakeTun, podUdp, Recorder } from './overlay-test-helpers.js';

// Outbound with IPsec on, the overlay writes UDP ‖ Geneve ‖ frame straight into the region the
// ESP data path seals (PacketUnderlay given the data path's in-place entry). It must put exactly
// the bytes on the wire that building the whole Geneve packet and handing it to onTunPackets did.

const A: LocalSpec = { node: 'a', systemId: 'aaaaaa00', underlay: '192.168.7.21', subnet: '10.254.0.0/24', vni: 1 };
const B: LocalSpec = { node: 'b', systemId: 'bbbbbb00', underlay: '192.168.7.22', subnet: '10.254.1.0/24', vni: 2 };
const C: LocalSpec = { node: 'c', systemId: 'cccccc00', underlay: '192.168.7.23', subnet: '10.254.2.0/24', vni: 3 };
const asPeer = (l: LocalSpec): PeerSpec => ({ node: l.node, systemId: l.systemId, underlay: l.underlay, subnet: l.subnet, vni: l.vni });
const ip = (s: string) => parseIpv4(s)!;
const NOW = () => 1_700_000_000_000;

type Wire = Array<{ datagram: Buffer; address: string; port: number }>;

function espFor(wire: Wire, deliver: (under: PacketUnderlay) => void = () => {}): { esp: EspDataPath; bind: (u: PacketUnderlay) => void } {
  let under: PacketUnderlay | undefined;
  const esp = new EspDataPath({
    tun: {
      write: (packets) => under!.deliver(packets),
      writeTransport: (payload, offset, length, src, dst, protocol) => under!.deliverTransport(payload, offset, length, src, dst, protocol),
      endBatch: () => under!.endBatch(),
    },
    udp: { send: (d, length, port, address) => wire.push({ datagram: Buffer.from(d.subarray(0, length)), address, port }) },
    now: NOW,
  });
  return { esp, bind: (u) => { under = u; deliver(u); } };
}

function specs(a: LocalSpec, b: LocalSpec, kAB: Buffer, kBA: Buffer, mode: 'transport' | 'tunnel' = 'transport'): { a: ChildSpec; b: ChildSpec } {
  const tsA = [cidrSelector(`${a.underlay}/32`, 17)];
  const tsB = [cidrSelector(`${b.underlay}/32`, 17)];
  const base = { name: `ovn-${b.node}`, mode, remotePort: 4500, proposal: 'AES_GCM_16_256' };
  return {
    a: { ...base, local: a.underlay, remote: b.underlay, localTs: tsA, remoteTs: tsB, spiIn: 0x2002, spiOut: 0x1001, keyIn: kBA, keyOut: kAB },
    b: { ...base, name: `ovn-${a.node}`, local: b.underlay, remote: a.underlay, localTs: tsB, remoteTs: tsA, spiIn: 0x1001, spiOut: 0x2002, keyIn: kAB, keyOut: kBA },
  };
}

/** Node A toward B: the old wiring (whole packets to onTunPackets) or the in-place one. */
function nodeA(inPlace: boolean, kAB: Buffer, kBA: Buffer): { overlay: NodeOverlay; tun: FakeTun; esp: EspDataPath; wire: Wire } {
  const wire: Wire = [];
  const { esp, bind } = espFor(wire);
  const under = new PacketUnderlay((packets) => esp.onTunPackets(packets), inPlace ? esp : undefined);
  bind(under);
  esp.installChild(specs(A, B, kAB, kBA).a);
  const tun = new FakeTun('ta');
  return { overlay: new NodeOverlay(new OverlayEngine({ local: A, peers: [asPeer(B)] }), tun, under), tun, esp, wire };
}

/** Pod packets of many flows and sizes (every padding length, a full-size one). */
function podBatch(): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < 40; i++) out.push(podUdp(`10.254.0.${2 + (i % 5)}`, `10.254.1.${2 + (i % 3)}`, 1000 + i, 7, 'x'.repeat(i * 7 + (i % 4))));
  out.push(podUdp('10.254.0.2', '10.254.1.2', 5, 6, 'y'.repeat(1400 - 28)));
  return out;
}

test('in-place Geneve in ESP puts on the wire exactly the datagrams of the whole-packet path, and B gets the pod packets back', async () => {
  const kAB = randomBytes(36);
  const kBA = randomBytes(36);
  const old = nodeA(false, kAB, kBA);
  const now = nodeA(true, kAB, kBA);
  await old.overlay.start();
  await now.overlay.start();
  for (let round = 0; round < 3; round++) {
    old.tun.read(podBatch());
    now.tun.read(podBatch());
  }
  assert.equal(now.wire.length, 3 * podBatch().length);
  assert.deepEqual(now.wire, old.wire, 'same datagrams, byte for byte, same order, same peer');
  assert.deepEqual(now.esp.status(), old.esp.status());
  assert.deepEqual(now.overlay.engine.status(), old.overlay.engine.status());

  // B opens them (the agent's wiring: transport payloads to the overlay) into the pod packets.
  const wireB: Wire = [];
  const { esp: espB, bind } = espFor(wireB);
  const underB = new PacketUnderlay((p) => espB.onTunPackets(p), espB);
  bind(underB);
  espB.installChild(specs(A, B, kAB, kBA).b);
  const tunB = new FakeTun('tb');
  const b = new NodeOverlay(new OverlayEngine({ local: B, peers: [asPeer(A)] }), tunB, underB);
  await b.start();
  for (const w of now.wire) espB.onUdpEsp(w.datagram, 0, w.datagram.length, { address: A.underlay, port: 4500 });
  assert.deepEqual(tunB.written, [...podBatch(), ...podBatch(), ...podBatch()]);
  assert.equal(Object.values(b.engine.status().drops.inbound).reduce((x, y) => x + y, 0), 0);
  await old.overlay.stop();
  await now.overlay.stop();
  await b.stop();
});

test('in place, a packet no SA covers is dropped and counted by the ESP layer, never sent; a tunnel-mode SA is refused as policy', async () => {
  const wire: Wire = [];
  const { esp, bind } = espFor(wire);
  const under = new PacketUnderlay((packets) => esp.onTunPackets(packets), esp);
  bind(under);
  const tun = new FakeTun('ta');
  const overlay = new NodeOverlay(new OverlayEngine({ local: A, peers: [asPeer(B), asPeer(C)] }), tun, under);
  await overlay.start();
  tun.read([podUdp('10.254.0.2', '10.254.1.2', 1, 2, 'early'), podUdp('10.254.0.2', '10.254.9.2', 1, 2, 'no route')]);
  assert.equal(wire.length, 0);
  assert.equal(esp.status().outbound_drops.no_policy, 1);
  assert.equal(overlay.engine.status().drops.outbound.no_route, 1);
  esp.installChild({ ...specs(A, C, randomBytes(36), randomBytes(36), 'tunnel').a, spiIn: 0x3003, spiOut: 0x4004 });
  tun.read([podUdp('10.254.0.2', '10.254.2.2', 1, 2, 'to c')]);
  assert.equal(esp.status().outbound_drops.policy, 1);
  esp.installChild(specs(A, B, randomBytes(36), randomBytes(36)).a);
  tun.read([podUdp('10.254.0.2', '10.254.2.2', 1, 2, 'to c'), podUdp('10.254.0.2', '10.254.1.2', 1, 2, 'to b')]);
  assert.equal(wire.length, 1);
  assert.equal(wire[0]!.address, B.underlay);
  assert.equal(esp.status().outbound_drops.policy, 2);
  await overlay.stop();
});

test('switching underlay in place: ESP peers sealed in place, the others plain in the same TUN batch; no seam: counted, never plain', async () => {
  const plain = new Recorder();
  const u = new SwitchingUnderlay(plain);
  const tun = new FakeTun('ta');
  const overlay = new NodeOverlay(new OverlayEngine({ local: A, peers: [asPeer(B), asPeer(C)] }), tun, u);
  await overlay.start();
  u.setEspPeers(new Set([ip(B.underlay)]), false);
  const batch = [podUdp('10.254.0.2', '10.254.1.2', 1, 2, 'to b'), podUdp('10.254.0.2', '10.254.2.2', 1, 2, 'to c')];
  tun.read(batch);
  assert.equal(plain.sent.length, 1);
  assert.equal(plain.sent[0]!.length, 1);
  assert.equal(plain.sent[0]![0]!.readUInt32BE(16), ip(C.underlay), 'C plain');
  assert.equal(u.counters().esp_not_running, 1, 'B is ESP with no seam: dropped and counted');

  const wire: Wire = [];
  const { esp, bind } = espFor(wire);
  const seam = new PacketUnderlay((packets) => esp.onTunPackets(packets), esp);
  bind(seam);
  esp.installChild(specs(A, B, randomBytes(36), randomBytes(36)).a);
  await u.attachEsp(seam);
  tun.read(batch);
  assert.equal(wire.length, 1);
  assert.equal(wire[0]!.address, B.underlay);
  assert.equal(plain.sent.length, 2);
  assert.equal(plain.sent[1]![0]!.readUInt32BE(16), ip(C.underlay));
  assert.equal(wire[0]!.datagram.includes(Buffer.from('to b')), false);

  // A seam without the in-place entry still gets whole packets through send().
  const whole: Buffer[][] = [];
  await u.detachEsp();
  await u.attachEsp(new PacketUnderlay((p) => whole.push(p)));
  tun.read(batch);
  assert.equal(whole.length, 1);
  assert.equal(whole[0]![0]!.readUInt32BE(16), ip(B.underlay));
  assert.equal(u.counters().esp_not_running, 1);
  await overlay.stop();
});
