import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Sim } from './ike-sim.js';
import { TestPki, type CertFiles } from '../helpers/certs.js';
import { AgentAuth } from '../../src/agent/auth.js';
import { connectionFor } from '../../src/agent/connections.js';
import type { AgentSelf } from '../../src/agent/desired.js';
import { UnknownSpiTrigger, type UnknownSpiCounters, type UnknownSpiPeer } from '../../src/agent/unknown-spi.js';
import type { PeerSpec } from '../../src/overlay/peer-table.js';

// ESP for an unknown SPI from a peer we hold no IKE SA with: the agent initiates at once (a
// rebooted responder no longer waits out its grace period), bounded against floods of bogus ESP.

const total = (c: UnknownSpiCounters): number => Object.values(c).reduce((x, y) => x + y, 0);

function fakePeer(name: string, live: () => boolean): UnknownSpiPeer & { initiations: number } {
  const p = { name, initiations: 0, hasLiveIkeSa: live, initiate: () => { p.initiations++; } };
  return p;
}

test('a flood of unknown-SPI ESP from a peer with no IKE SA: one look a second, every packet counted once', () => {
  let now = 0;
  const t = new UnknownSpiTrigger({ now: () => now });
  // The initiation never gets anywhere (the engine would hold an SA in progress; here, the worst case: it does not).
  const p = fakePeer('ovn-aaaaaa-0', () => false);
  const packets = 100_000; // 10 s at 10,000 packets a second
  for (let i = 0; i < packets; i++) {
    t.onPacket(p);
    now += 0.1;
  }
  assert.equal(p.initiations, 10, 'one initiation per check interval (1 s)');
  assert.deepEqual(t.counters, { not_a_peer: 0, held_back: packets - 10, ike_sa_live: 0, initiated: 10, over_budget: 0 });
});

test('once an IKE SA is on its way, further unknown-SPI packets start nothing', () => {
  let now = 0;
  const t = new UnknownSpiTrigger({ now: () => now });
  let live = false;
  const p = fakePeer('ovn-aaaaaa-0', () => live);
  p.initiate = () => { p.initiations++; live = true; };
  for (let i = 0; i < 50_000; i++) {
    t.onPacket(p);
    now += 0.2;
  }
  assert.equal(p.initiations, 1);
  assert.equal(t.counters.ike_sa_live, 9);
  assert.equal(total(t.counters), 50_000);
});

test('spoofed ESP from many peer addresses: initiations across peers stay within the budget; non-peers start nothing', () => {
  let now = 0;
  const t = new UnknownSpiTrigger({ now: () => now, burst: 20, perSecond: 10 });
  const peers = Array.from({ length: 1000 }, (_, i) => fakePeer(`ovn-${i.toString(16).padStart(6, '0')}-0`, () => false));
  // 2 s of packets cycling through all 1000 peers, with junk from non-peers in between.
  let sent = 0;
  for (let i = 0; now < 2000; i++) {
    t.onPacket(peers[i % peers.length]);
    t.onPacket(undefined);
    sent += 2;
    now += 0.05;
  }
  const initiations = peers.reduce((n, p) => n + p.initiations, 0);
  assert.ok(initiations <= 20 + 10 * 2 + 1, `at most the burst plus 10 a second: ${initiations}`);
  // Each peer is looked at once a second: at 0 s the burst (20) goes, at 1 s what refilled (10).
  assert.ok(initiations >= 29, `the budget is used: ${initiations}`);
  assert.equal(t.counters.initiated, initiations);
  assert.equal(t.counters.not_a_peer, sent / 2);
  assert.ok(t.counters.over_budget > 0);
  assert.equal(total(t.counters), sent);
});

// The protocol effect, on two real engines: the pair's responder reboots (its engine replaced,
// state lost) while the survivor still holds the old SAs; the rebooted node initiates on the
// survivor's ESP, and its INITIAL_CONTACT makes the survivor drop the stale IKE SA.
const A: AgentSelf = { node: 'master0', systemId: '2dc40cb7-845e-4326-9d1d-340f9961d76c', underlay: '192.168.7.21' };
const B: AgentSelf = { node: 'worker0', systemId: 'ab2a7cc3-15a3-420b-a81f-d066c38b1c02', underlay: '192.168.7.11' };
const peerOf = (s: AgentSelf, subnet: string, vni: number): PeerSpec => ({ node: s.node, systemId: s.systemId, underlay: s.underlay, subnet, vni });
const pki = new TestPki('oit-us-certs');
after(() => rmSync(pki.dir, { recursive: true, force: true }));
const ca = pki.createCa('cluster-ca', { dn: 'O=ovnkubernetes, CN=ovnkubernetes-ca', keyType: 'rsa' });
const nodeCert = (name: string, systemId: string): CertFiles =>
  pki.issue(ca, name, { dn: `C=US, O=ovnkubernetes, OU=kind, CN=${systemId}`, sans: [systemId], keyType: 'rsa' });

function agentNode(sim: Sim, self: AgentSelf, cert: CertFiles, peer: AgentSelf) {
  const auth = new AgentAuth(() => Date.now());
  auth.setCredentials({ certPem: cert.certPem, keyPem: cert.keyPem, caPem: ca.certPem, systemId: self.systemId });
  const node = sim.add(self.node, self.underlay, [], auth);
  const cfg = connectionFor(self, peerOf(peer, '10.254.9.0/24', 10), 6081);
  auth.setPeer(cfg.name, peer.systemId);
  node.engine.addConnection(cfg);
  return { node, cfg };
}

test('a rebooted responder initiating on unknown-SPI ESP: INITIAL_CONTACT clears the survivor\'s stale IKE SA', () => {
  const sim = new Sim();
  const certA = nodeCert('a', A.systemId);
  const certB = nodeCert('b', B.systemId);
  const a = agentNode(sim, A, certA, B);
  agentNode(sim, B, certB, A);
  a.node.engine.initiate(a.cfg.name);
  sim.advance(2000);
  const stale = a.node.engine.status().ike_sas.filter((s) => s.state === 'established');
  assert.equal(stale.length, 1);
  // B reboots: a fresh engine at the same address, no SAs. A does not know yet.
  const b2 = agentNode(sim, B, certB, A);
  assert.equal(b2.node.engine.hasLiveIkeSa(b2.cfg.name), false);
  const trigger = new UnknownSpiTrigger({ now: () => sim.now });
  const peer = { name: b2.cfg.name, hasLiveIkeSa: () => b2.node.engine.hasLiveIkeSa(b2.cfg.name), initiate: () => b2.node.engine.initiate(b2.cfg.name) };
  // A's ESP on the old SAs arrives at B (1000 a second for 2 s); each is unknown there.
  for (let i = 0; i < 2000; i++) {
    trigger.onPacket(peer);
    sim.advance(1);
  }
  assert.equal(trigger.counters.initiated, 1, JSON.stringify(trigger.counters));
  assert.equal(trigger.counters.ike_sa_live, 1, 'the second look found the new SA');
  const sas = a.node.engine.status().ike_sas;
  assert.deepEqual(sas.map((s) => s.state), ['established'], 'the survivor keeps only the new IKE SA');
  assert.notEqual(sas[0]!.serial, stale[0]!.serial);
  assert.ok(a.node.logs.some((l) => l.includes('INITIAL_CONTACT: deleting older IKE SA of this peer')), a.node.logs.join('\n'));
  assert.equal(b2.node.liveChildren().length, 2);
  assert.equal(b2.node.engine.hasLiveIkeSa(b2.cfg.name), true);
});
