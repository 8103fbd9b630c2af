// A node holding a valid cluster certificate (signed by the cluster CA, for its own system-id)
// that claims to be another node: its ID payload names the other node's system-id, its
// certificate names its own. The peer must refuse it whichever end starts, and install nothing.
// (test/unit/agent-connections.test.ts covers the impostor that names itself, and a foreign CA.)
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Sim, type Node } from '../unit/ike-sim.js';
import { TestPki, type CertFiles } from '../helpers/certs.js';
import { AgentAuth } from '../../src/agent/auth.js';
import { connectionFor } from '../../src/agent/connections.js';
import type { AgentSelf } from '../../src/agent/desired.js';
import type { PeerSpec } from '../../src/overlay/peer-table.js';
import type { IkeAuthProvider, IkeId } from '../../src/ike/auth-provider.js';

const A: AgentSelf = { node: 'master0', systemId: '2dc40cb7-845e-4326-9d1d-340f9961d76c', underlay: '192.168.7.21' };
const B: AgentSelf = { node: 'worker0', systemId: 'ab2a7cc3-15a3-420b-a81f-d066c38b1c02', underlay: '192.168.7.11' };
const MALLORY_ID = 'fee1dead-0000-4000-8000-000000000001';
const peerOf = (s: AgentSelf, subnet: string, vni: number): PeerSpec => ({ node: s.node, systemId: s.systemId, underlay: s.underlay, subnet, vni });

const pki = new TestPki('oir-impostor');
after(() => rmSync(pki.dir, { recursive: true, force: true }));
const ca = pki.createCa('cluster-ca', { dn: 'O=ovnkubernetes, CN=ovnkubernetes-ca', keyType: 'rsa' });
const nodeCert = (name: string, systemId: string): CertFiles =>
  pki.issue(ca, name, { dn: `C=US, O=ovnkubernetes, OU=kind, CN=${systemId}`, sans: [systemId], keyType: 'rsa' });
const certA = nodeCert('a', A.systemId);
const certMallory = nodeCert('mallory', MALLORY_ID);

/**
 * An agent's engine. With `claims`, its ID payload names that system-id while its certificate and
 * signature stay its own: our agent would never configure that (AgentAuth refuses an id the
 * certificate does not carry), so the impostor's provider replaces only localId().
 */
function agent(sim: Sim, self: AgentSelf, cert: CertFiles, certSystemId: string, peer: AgentSelf, name: string, claims?: IkeId): { node: Node; conn: string } {
  const auth = new AgentAuth(() => Date.now());
  auth.setCredentials({ certPem: cert.certPem, keyPem: cert.keyPem, caPem: ca.certPem, systemId: certSystemId });
  const cfg = connectionFor(self, peerOf(peer, '10.254.9.0/24', 10), 6081);
  auth.setPeer(cfg.name, peer.systemId);
  const provider: IkeAuthProvider = claims === undefined ? auth : {
    sign: (...a) => auth.sign(...a),
    verify: (...a) => auth.verify(...a),
    certReq: (c) => auth.certReq(c),
    localId: () => claims,
  };
  const node = sim.add(name, self.underlay, [], provider);
  node.engine.addConnection(cfg);
  return { node, conn: cfg.name };
}

/** The ID payload the real B sends (from a certificate for B that the impostor does not hold the key of). */
function idOfB(): IkeId {
  const certB = nodeCert('b', B.systemId);
  const auth = new AgentAuth(() => Date.now());
  auth.setCredentials({ certPem: certB.certPem, keyPem: certB.keyPem, caPem: ca.certPem, systemId: B.systemId });
  const cfg = connectionFor(B, peerOf(A, '10.254.9.0/24', 10), 6081);
  auth.setPeer(cfg.name, A.systemId);
  return auth.localId(cfg.name);
}

for (const starter of ['A', 'the impostor'] as const) {
  test(`a cluster-signed node claiming another node's system-id is refused (${starter} initiates)`, () => {
    const sim = new Sim();
    const a = agent(sim, A, certA, A.systemId, B, 'a');
    // Mallory sits at B's address and says it is B, with its own valid certificate.
    const m = agent(sim, B, certMallory, MALLORY_ID, A, 'mallory', idOfB());
    (starter === 'A' ? a : m).node.engine.initiate((starter === 'A' ? a : m).conn);
    sim.advance(60_000);
    // A installs nothing and keeps no SA. (When A initiates, the impostor as responder accepted A's
    // genuine AUTH and made its half of the child before A checked its answer: that is the
    // impostor's own state, no key of A's is in it, and A sends it nothing.)
    assert.deepEqual(a.node.liveChildren(), [], 'A: no child SA');
    assert.equal(a.node.childUps().length, 0, 'A: nothing was ever installed');
    assert.equal(a.node.engine.status().ike_sas.filter((s) => s.state === 'established').length, 0);
    if (starter === 'the impostor') assert.equal(m.node.childUps().length, 0, 'A refused before answering');
    assert.ok(a.node.logs.some((l) => /AUTHENTICATION_FAILED|does not match|id mismatch|certificate/i.test(l)), a.node.logs.join('\n'));
    assert.equal(a.node.engine.counters.internalErrors, 0);
  });
}
