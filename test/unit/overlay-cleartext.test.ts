import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OverlayEngine, type LocalSpec } from '../../src/overlay/engine.js';
import type { PeerSpec } from '../../src/overlay/peer-table.js';
import { SwitchingUnderlay } from '../../src/overlay/switching-underlay.js';
import { PacketUnderlay } from '../../src/overlay/packet-underlay.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { podUdp, Recorder } from './overlay-test-helpers.js';

// The overlay's side of switching IPsec per pair: which peers' cleartext Geneve is taken, and
// which peers a packet goes to in ESP or plain.

const A: LocalSpec = { node: 'master0', systemId: 'ab2a7c11-1111-4111-8111-111111111111', underlay: '192.168.7.21', subnet: '10.254.0.0/24', vni: 1 };
const B: LocalSpec = { node: 'worker0', systemId: '04e0df22-2222-4222-8222-222222222222', underlay: '192.168.7.11', subnet: '10.254.3.0/24', vni: 4 };
const C: LocalSpec = { node: 'worker1', systemId: '5c3e1d33-3333-4333-8333-333333333333', underlay: '192.168.7.12', subnet: '10.254.4.0/24', vni: 5 };
const asPeer = (l: LocalSpec): PeerSpec => ({ node: l.node, systemId: l.systemId, underlay: l.underlay, subnet: l.subnet, vni: l.vni });
const ip = (s: string) => parseIpv4(s)!;
const OUTER = 28;

test('cleartext Geneve: taken from every peer by default, only from the peers named once set, the rest counted as cleartext_refused', () => {
  const a = new OverlayEngine({ local: A, peers: [asPeer(B), asPeer(C)] });
  const fromB = new OverlayEngine({ local: B, peers: [asPeer(A)] }).encapsulate(podUdp('10.254.3.2', '10.254.0.2', 1000, 2000, 'b'))!;
  const fromC = new OverlayEngine({ local: C, peers: [asPeer(A)] }).encapsulate(podUdp('10.254.4.2', '10.254.0.2', 1000, 2000, 'c'))!;
  assert.ok(a.decapsulateUdp(ip(B.underlay), fromB.subarray(OUTER)));
  a.setCleartextPeers(new Set([ip(C.underlay)]));
  assert.equal(a.decapsulateUdp(ip(B.underlay), fromB.subarray(OUTER)), undefined, 'B is encrypted: its cleartext is refused');
  assert.ok(a.decapsulateUdp(ip(C.underlay), fromC.subarray(OUTER)), 'C is still switching: taken');
  assert.equal(a.decapsulateUdp(ip('192.168.7.99'), fromB.subarray(OUTER)), undefined);
  const drops = a.status().drops.inbound;
  assert.equal(drops.cleartext_refused, 1);
  assert.equal(drops.unknown_peer, 1);
  // What the ESP layer decrypted is not cleartext: taken from B still.
  assert.ok(a.decapsulateIpv4(fromB), 'decrypted Geneve from an encrypted peer is taken');
});

test('the switching underlay sends each packet by its outer destination: ESP peers to the seam, the rest plain; never plain for an ESP peer', async () => {
  const a = new OverlayEngine({ local: A, peers: [asPeer(B), asPeer(C)] });
  const toB = a.encapsulate(podUdp('10.254.0.2', '10.254.3.2', 1, 2, 'x'))!;
  const toC = a.encapsulate(podUdp('10.254.0.2', '10.254.4.2', 1, 2, 'y'))!;
  const plain = new Recorder();
  const esp: Buffer[][] = [];
  const u = new SwitchingUnderlay(plain);
  await u.start({ fromUdp() {}, fromIpv4() {} });
  u.setEspPeers(new Set([ip(B.underlay)]), false);
  u.send([toB, toC]);
  assert.deepEqual(plain.sent, [[toC]]);
  assert.equal(u.counters().esp_not_running, 1, 'no ESP seam yet: the packet for B is dropped and counted, not sent plain');
  await u.attachEsp(new PacketUnderlay((p) => esp.push(p)));
  u.send([toB, toC]);
  assert.deepEqual(esp, [[toB]]);
  u.setEspPeers(new Set([ip(B.underlay), ip(C.underlay)]), true);
  u.send([toC]);
  assert.deepEqual(esp, [[toB], [toC]]);
  assert.equal(plain.sent.length, 2);
  await u.close();
});
