import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { TestPki } from '../helpers/certs.js';
import { AgentSim, type SimAgent } from './agent-sim.js';
import { tunnelName } from '../../src/overlay/tunnel-name.js';
import type { AgentSelf } from '../../src/agent/desired.js';
import { DEFAULT_TIMERS } from '../../src/agent/connections.js';
import { desiredConnections } from '../../src/agent/desired-connections.js';

// The agent's connection planning on simulated engines: who initiates, the responder's grace,
// crossing initiations and duplicates, make-before-break re-authentication for either end's new
// certificate, the unknown-SPI trigger after a reboot, peers coming, going and changing.

const A: AgentSelf = { node: 'master0', systemId: '2dc40cb7-845e-4326-9d1d-340f9961d76c', underlay: '192.168.7.21' };
const B: AgentSelf = { node: 'worker0', systemId: 'ab2a7cc3-15a3-420b-a81f-d066c38b1c02', underlay: '192.168.7.11' };
const C: AgentSelf = { node: 'worker1', systemId: 'f03b1a52-7a38-4c2e-9a3e-6f1c0c3d2e11', underlay: '192.168.7.12' };
const AB = tunnelName(B.systemId); // A's connection to B
const BA = tunnelName(A.systemId);

const pki = new TestPki('oit-planner-certs');
after(() => rmSync(pki.dir, { recursive: true, force: true }));
const ca = pki.createCa('cluster-ca', { dn: 'O=ovnkubernetes, CN=ovnkubernetes-ca', keyType: 'rsa' });

function cluster(...selves: AgentSelf[]): { s: AgentSim; agents: SimAgent[] } {
  const s = new AgentSim(pki, ca);
  const agents = selves.map((x) => s.add(x));
  s.desire();
  return { s, agents };
}

const established = (s: AgentSim, a: SimAgent, conn: string) => s.observe(a, conn).filter((x) => x.state === 'established');
const initiations = (a: SimAgent) => a.calls.filter((c) => c.startsWith('initiate')).length;

/** Each end has one established IKE SA for the pair, and the same child pairs (one end's inbound SPIs are the other's outbound). */
function assertOnePair(s: AgentSim, a: SimAgent, b: SimAgent, ab: string, ba: string): void {
  assert.equal(established(s, a, ab).length, 1, JSON.stringify(s.observe(a, ab)));
  assert.equal(established(s, b, ba).length, 1, JSON.stringify(s.observe(b, ba)));
  assert.equal(s.observe(a, ab).length, 1, 'nothing else left over');
  assert.equal(s.observe(b, ba).length, 1, 'nothing else left over');
  const live = (x: SimAgent, conn: string) => x.node.liveChildren().filter((c) => c.connection === conn);
  const ins = live(a, ab).map((c) => c.spiIn).sort();
  const outs = live(b, ba).map((c) => c.spiOut).sort();
  assert.equal(ins.length, 2, 'both children, once');
  assert.deepEqual(ins, outs);
}

test('the lower system-id initiates; the other end answers and never initiates itself', () => {
  const { s, agents: [a, b] } = cluster(A, B);
  s.run(3000);
  assertOnePair(s, a!, b!, AB, BA);
  assert.deepEqual(a!.calls, [`add ${AB}`, `initiate ${AB}`]);
  assert.deepEqual(b!.calls, [`add ${BA}`]);
  s.run(20_000);
  assert.deepEqual(b!.calls, [`add ${BA}`], 'steady state: no actions');
  assert.equal(a!.calls.length, 2);
  assert.ok(a!.outcomes.get(AB)!.slice(-10).every((o) => o === 'ok'));
});

test('the responder initiates itself only after its grace period when the initiator stays silent', () => {
  const { s, agents: [a, b] } = cluster(A, B);
  a!.running = false;
  // A's engine knows the connection (so it can answer) but its agent does not run.
  a!.port.addConnection(desiredConnections(A, [{ ...B, subnet: '10.244.1.0/24', vni: 1 }], s.genevePort, DEFAULT_TIMERS, new Map())[0]!);
  let firstAt: number | undefined;
  s.run(12_000, () => {
    if (firstAt === undefined && initiations(b!) > 0) firstAt = s.sim.now;
  });
  assert.ok(firstAt !== undefined && firstAt >= 8000 && firstAt <= 8500, `initiated at ${firstAt}`);
  assert.equal(established(s, b!, BA).length, 1, 'the silent initiator\'s engine still answers');
});

test('crossing initiations (both ends at once): the initiator keeps one IKE SA and one child of each name', () => {
  const { s, agents: [a, b] } = cluster(A, B);
  s.syncAll();
  b!.port.initiate(BA); // as if its grace ended at the same moment
  s.run(6000);
  assertOnePair(s, a!, b!, AB, BA);
  assert.ok(a!.calls.some((c) => c.startsWith('delete-ike-sa')), a!.calls.join('\n'));
  assert.ok(!b!.calls.some((c) => c.startsWith('delete')), 'only the initiator cleans up');
});

test('both ends re-authenticating at once with SAs up: the duplicates go, one pair stays', () => {
  const { s, agents: [a, b] } = cluster(A, B);
  s.run(3000);
  a!.port.initiate(AB);
  b!.port.initiate(BA);
  s.run(6000);
  assertOnePair(s, a!, b!, AB, BA);
  assert.ok(a!.calls.filter((c) => c.startsWith('delete-ike-sa')).length >= 2, a!.calls.join('\n'));
});

/** Runs while checking, at every step, that each end has an installed child of each name (traffic never stops). */
function runWithoutGap(s: AgentSim, ms: number, pairs: [SimAgent, string][]): void {
  s.run(ms, () => {
    for (const [x, conn] of pairs) {
      const names = new Set(s.observe(x, conn).filter((sa) => sa.state === 'established').flatMap((sa) => sa.children.filter((c) => c.state === 'installed').map((c) => c.name)));
      assert.equal(names.size, 2, `${x.self.node} at ${s.sim.now}: ${JSON.stringify(s.observe(x, conn))}`);
    }
  });
}

test('the initiator\'s new certificate: make-before-break re-authentication, old IKE SA deleted after the new one is complete', () => {
  const { s, agents: [a, b] } = cluster(A, B);
  s.run(3000);
  const old = established(s, a!, AB)[0]!.serial;
  s.rotate(a!);
  runWithoutGap(s, 8000, [[a!, AB], [b!, BA]]);
  assertOnePair(s, a!, b!, AB, BA);
  assert.notEqual(established(s, a!, AB)[0]!.serial, old);
  assert.ok(a!.calls.includes(`delete-ike-sa ${old}`), a!.calls.join('\n'));
  assert.equal(initiations(b!), 0);
  assert.equal(b!.node.engine.status().ike_sas[0]!.remote_id.includes(A.systemId), true);
});

test('the responder\'s new certificate: its initiator re-authenticates once the new serial has stood a second', () => {
  const { s, agents: [a, b] } = cluster(A, B);
  s.run(3000);
  const before = initiations(a!);
  s.rotate(b!);
  s.desire(); // B's node record now carries its new serial
  s.run(750);
  assert.equal(initiations(a!), before, 'not before the serial settled');
  runWithoutGap(s, 8000, [[a!, AB], [b!, BA]]);
  assert.equal(initiations(a!), before + 1);
  assertOnePair(s, a!, b!, AB, BA);
  assert.equal(initiations(b!), 0, 'the responder does not re-authenticate for its own rotation');
});

test('a rebooted responder: ESP for an unknown SPI from its initiator makes it initiate at once, bounded', () => {
  const { s, agents: [a] } = cluster(A, B);
  s.run(3000);
  const stale = established(s, a!, AB)[0]!.serial;
  const b2 = s.add(B, s.agents.get(B.node)!.cert); // a fresh engine and agent at B's address
  s.desire();
  s.syncAll();
  assert.equal(initiations(b2), 0, 'within the grace period');
  for (let i = 0; i < 200; i++) b2.peers.onUnknownSpi(A.underlay); // A's ESP on the old SAs
  b2.peers.onUnknownSpi('198.51.100.9');
  assert.deepEqual(b2.trigger.counters, { not_a_peer: 1, held_back: 199, ike_sa_live: 0, initiated: 1, over_budget: 0 });
  s.run(2000);
  assert.equal(initiations(b2), 1);
  assert.ok(s.sim.now < 8000);
  assertOnePair(s, a!, b2, AB, BA);
  assert.notEqual(established(s, a!, AB)[0]!.serial, stale);
  assert.ok(a!.node.logs.some((l) => l.includes('INITIAL_CONTACT')), 'the survivor dropped the stale SA');
});

test('peers added, removed and changed', () => {
  const { s, agents: [a, b] } = cluster(A, B);
  s.run(3000);
  const c = s.add(C);
  s.desire();
  s.run(3000);
  assertOnePair(s, a!, c, tunnelName(C.systemId), BA);
  assertOnePair(s, b!, c, tunnelName(C.systemId), tunnelName(B.systemId));
  assert.equal(initiations(c), 0, 'the highest system-id initiates nothing');
  // C leaves: its connections go, with DELETEs (the SAs are gone at both ends).
  s.desire([A.node, B.node]);
  s.run(3000);
  assert.ok(a!.calls.includes(`remove ${tunnelName(C.systemId)}`));
  assert.deepEqual(c.node.engine.status().ike_sas, []);
  assert.deepEqual(a!.node.engine.status().ike_sas.map((x) => x.name), [AB]);
  // A changed peer (another Geneve port): the connection is replaced and comes up again.
  const was = established(s, a!, AB)[0]!.serial;
  s.genevePort = 6082;
  s.desire([A.node, B.node]);
  s.run(6000);
  assert.deepEqual(a!.calls.slice(-3).slice(0, 2), [`remove ${AB}`, `add ${AB}`], a!.calls.join('\n'));
  assertOnePair(s, a!, b!, AB, BA);
  assert.notEqual(established(s, a!, AB)[0]!.serial, was);
  assert.ok(s.observe(a!, AB)[0]!.children.length === 2);
});

test('an initiation that keeps failing (the peer refuses our certificate) is reported failed, to be backed off', () => {
  const other = pki.createCa('other-ca', { dn: 'O=elsewhere, CN=other-ca', keyType: 'rsa' });
  const s = new AgentSim(pki, ca);
  const a = s.add(A);
  s.add(B, pki.issue(other, 'b-other', { dn: `C=US, O=ovnkubernetes, OU=kind, CN=${B.systemId}`, sans: [B.systemId], keyType: 'rsa' }));
  s.desire();
  s.run(5000);
  const outcomes = a.outcomes.get(AB)!;
  assert.ok(outcomes.includes('failed'), outcomes.join(','));
  assert.ok(!outcomes.includes('ok'));
  assert.equal(established(s, a, AB).length, 0);
});
