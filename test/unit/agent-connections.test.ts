import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Sim, assertMirrored } from './ike-sim.js';
import { TestPki, type CertFiles } from '../helpers/certs.js';
import { AgentAuth } from '../../src/agent/auth.js';
import { connectionFor, initiates } from '../../src/agent/connections.js';
import type { AgentSelf } from '../../src/agent/desired.js';
import type { PeerSpec } from '../../src/overlay/peer-table.js';

// The agent's per-peer IKE connection between two engines over the in-memory network, with
// certificates made by OpenSSL as the operator makes them (CN = SAN DNS = the system-id).

const A: AgentSelf = { node: 'master0', systemId: '2dc40cb7-845e-4326-9d1d-340f9961d76c', underlay: '192.168.7.21' };
const B: AgentSelf = { node: 'worker0', systemId: 'ab2a7cc3-15a3-420b-a81f-d066c38b1c02', underlay: '192.168.7.11' };
const peerOf = (s: AgentSelf, subnet: string, vni: number): PeerSpec => ({ node: s.node, systemId: s.systemId, underlay: s.underlay, subnet, vni });

const pki = new TestPki('oit-ag-certs');
after(() => rmSync(pki.dir, { recursive: true, force: true }));
const ca = pki.createCa('cluster-ca', { dn: 'O=ovnkubernetes, CN=ovnkubernetes-ca', keyType: 'rsa' });
const nodeCert = (issuer: CertFiles, name: string, systemId: string): CertFiles =>
  pki.issue(issuer, name, { dn: `C=US, O=ovnkubernetes, OU=kind, CN=${systemId}`, sans: [systemId], keyType: 'rsa' });
const certA = nodeCert(ca, 'a', A.systemId);
const certB = nodeCert(ca, 'b', B.systemId);

function agentNode(sim: Sim, self: AgentSelf, cert: CertFiles, peer: AgentSelf, caPem = ca.certPem) {
  const auth = new AgentAuth(() => Date.now());
  auth.setCredentials({ certPem: cert.certPem, keyPem: cert.keyPem, caPem, systemId: self.systemId });
  const node = sim.add(self.node, self.underlay, [], auth);
  const cfg = connectionFor(self, peerOf(peer, '10.254.9.0/24', 10), 6081);
  auth.setPeer(cfg.name, peer.systemId);
  node.engine.addConnection(cfg);
  return { node, cfg };
}

test('the lower system-id initiates', () => {
  assert.equal(initiates(A, peerOf(B, '10.254.1.0/24', 2)), true);
  assert.equal(initiates(B, peerOf(A, '10.254.0.0/24', 1)), false);
});

test('connection per peer: ovn-<6 hex>-0 with -in-1/-out-1 transport children over UDP 4500, each landing on its mirror', () => {
  const sim = new Sim();
  const a = agentNode(sim, A, certA, B);
  const b = agentNode(sim, B, certB, A);
  assert.equal(a.cfg.name, 'ovn-ab2a7c-0');
  assert.equal(b.cfg.name, 'ovn-2dc40c-0');
  a.node.engine.initiate(a.cfg.name);
  sim.advance(2000);
  const ua = a.node.liveChildren();
  const ub = b.node.liveChildren();
  assert.deepEqual(ua.map((c) => c.child).sort(), ['ovn-ab2a7c-0-in-1', 'ovn-ab2a7c-0-out-1']);
  assert.deepEqual(ub.map((c) => c.child).sort(), ['ovn-2dc40c-0-in-1', 'ovn-2dc40c-0-out-1']);
  // A's -in-1 (Geneve into A) is B's -out-1 (Geneve from B), and the other way round.
  assertMirrored(ua.find((c) => c.child.endsWith('-in-1'))!, ub.find((c) => c.child.endsWith('-out-1'))!, assert.equal);
  assertMirrored(ua.find((c) => c.child.endsWith('-out-1'))!, ub.find((c) => c.child.endsWith('-in-1'))!, assert.equal);
  for (const c of [...ua, ...ub]) {
    assert.equal(c.mode, 'transport');
    assert.equal(c.remotePort, 4500, 'ESP in UDP 4500');
  }
  const st = a.node.engine.status().ike_sas[0]!;
  assert.equal(st.state, 'established');
  assert.equal(st.proposal, 'AES_GCM_16_256/PRF_HMAC_SHA2_256/MODP2048');
  assert.equal(st.remote_id, B.systemId);
  assert.equal(st.local_id, A.systemId);
  const inA = st.children.find((c) => c.name.endsWith('-in-1'))!;
  assert.deepEqual([inA.local_ts, inA.remote_ts], [['192.168.7.21/32[udp/6081]'], ['192.168.7.11/32[udp]']]);
  const outA = st.children.find((c) => c.name.endsWith('-out-1'))!;
  assert.deepEqual([outA.local_ts, outA.remote_ts], [['192.168.7.21/32[udp]'], ['192.168.7.11/32[udp/6081]']]);
  // The child made by CREATE_CHILD_SA used PFS with the seed's group.
  assert.ok(a.node.logs.some((l) => /IPsec SA established transport mode \{ESPinUDP=>0x[0-9a-f]{8} <0x[0-9a-f]{8} xfrm=AES_GCM_16_256-NONE-MODP2048 /.test(l)), a.node.logs.join('\n'));

  // A node leaving: removing the connection deletes its SAs on both sides.
  assert.equal(a.node.engine.removeConnection(a.cfg.name), true);
  sim.advance(2000);
  assert.equal(a.node.engine.status().ike_sas.length, 0);
  assert.equal(b.node.engine.status().ike_sas.length, 0);
  assert.deepEqual(a.node.liveChildren(), []);
  assert.deepEqual(b.node.liveChildren(), []);
  assert.deepEqual(a.node.engine.connectionNames(), []);
});

test('a certificate from the cluster CA naming another node is refused; so is one from a foreign CA', () => {
  // Mallory holds a valid cluster certificate, but for its own system-id, and claims to be B.
  const mallory = nodeCert(ca, 'mallory', 'fee1dead-0000-4000-8000-000000000001');
  const foreignCa = pki.createCa('foreign-ca', { dn: 'O=elsewhere, CN=other-ca', keyType: 'rsa' });
  const foreignB = nodeCert(foreignCa, 'foreign-b', B.systemId);
  for (const [label, cert] of [['wrong name', mallory], ['foreign CA', foreignB]] as const) {
    const sim = new Sim();
    const a = agentNode(sim, A, certA, B);
    // The impostor's agent uses B's address and claims B's system-id as its local id.
    const auth = new AgentAuth(() => Date.now());
    const caPem = cert === foreignB ? foreignCa.certPem + ca.certPem : ca.certPem;
    auth.setCredentials({ certPem: cert.certPem, keyPem: cert.keyPem, caPem, systemId: cert === mallory ? 'fee1dead-0000-4000-8000-000000000001' : B.systemId });
    const m = sim.add('impostor', B.underlay, [], auth);
    const cfg = connectionFor(B, peerOf(A, '10.254.0.0/24', 1), 6081);
    auth.setPeer(cfg.name, A.systemId);
    m.engine.addConnection(cfg);
    a.node.engine.initiate(a.cfg.name);
    sim.advance(30_000);
    assert.deepEqual(a.node.liveChildren(), [], label);
    assert.deepEqual(m.liveChildren(), [], label);
    assert.equal(a.node.engine.status().ike_sas.filter((s) => s.state === 'established').length, 0, label);
    assert.ok(a.node.logs.some((l) => /AUTHENTICATION_FAILED|id mismatch|certificate/i.test(l)), `${label}: ${a.node.logs.join('\n')}`);
  }
});
