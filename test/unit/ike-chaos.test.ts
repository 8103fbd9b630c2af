import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertMirrored, conn, pskAuth, Sim, type Node } from './ike-sim.js';

/**
 * Randomised runs: a lossy, duplicating, reordering network and rekeys/creates/deletes fired from
 * both sides at random moments. After the network heals and things settle, the two engines must
 * agree: the same IKE SA (or none on either side), and every child on one side mirrored on the other.
 */
const A = '192.0.2.1';
const B = '192.0.2.2';

function agree(a: Node, b: Node, label: string): void {
  const sa = a.engine.status().ike_sas.filter((s) => s.state === 'established');
  const sb = b.engine.status().ike_sas.filter((s) => s.state === 'established');
  assert.equal(sa.length, sb.length, `${label}: IKE SAs ${JSON.stringify(sa.map((s) => s.spi_i))} vs ${JSON.stringify(sb.map((s) => s.spi_i))}\n${a.logs.slice(-30).join('\n')}\n---\n${b.logs.slice(-30).join('\n')}`);
  assert.deepEqual(sa.map((s) => s.spi_i + s.spi_r).sort(), sb.map((s) => s.spi_i + s.spi_r).sort(), label);
  const la = a.liveChildren();
  const lb = b.liveChildren();
  assert.equal(la.length, lb.length, `${label}: children ${la.length} vs ${lb.length}\n${a.logs.slice(-40).join('\n')}\n---\n${b.logs.slice(-40).join('\n')}`);
  for (const c of la) {
    const m = lb.find((x) => x.spiOut === c.spiIn);
    assert.ok(m, `${label}: child ${c.spiIn.toString(16)} has a peer`);
    assertMirrored(c, m, assert.equal);
  }
  // what the events say is what the status says
  assert.equal(sa.reduce((n, s) => n + s.children.length, 0), la.length, `${label}: status and events agree`);
  assert.equal(a.engine.counters.internalErrors + b.engine.counters.internalErrors, 0);
}

for (let seed = 1; seed <= Number(process.env.IKE_CHAOS_RUNS ?? 16); seed++) {
  test(`chaos run ${seed}: loss, duplication, reordering, concurrent rekeys from both sides`, () => {
    const sim = new Sim();
    const cfg = { dpdDelayMs: 30_000 };
    const esp = seed % 2 ? ['aes256gcm16-modp2048'] : ['aes256gcm16'];
    const a = sim.add(`a${seed}`, A, [conn('site', A, B, cfg, { espProposals: esp })], pskAuth('secret', 'a.example', 'b.example'));
    const b = sim.add(`b${seed}`, B, [conn('site', B, A, cfg, { localTs: ['10.2.0.0/24'], remoteTs: ['10.1.0.0/24'], espProposals: esp })], pskAuth('secret', 'b.example', 'a.example'));
    a.engine.initiate('site');
    sim.advance(2000);
    sim.jitter = 40;
    const loss = 0.05 + (seed % 6) * 0.05; // 5% … 30%
    sim.drop = () => sim.chance() < loss;
    sim.duplicate = () => sim.chance() < 0.05;
    for (let step = 0; step < 25; step++) {
      const who = sim.chance() < 0.5 ? a : b;
      const r = sim.chance();
      if (r < 0.45) who.engine.rekeyChild('site');
      else if (r < 0.65) who.engine.rekeyIke('site');
      else if (r < 0.8) who.engine.createChild('site', 'pods');
      else if (r < 0.85) who.engine.terminate('site', 'pods');
      sim.advance(Math.floor(sim.chance() * 3000));
    }
    // heal and settle: every retransmission finishes or gives up, lingering SAs expire
    sim.drop = () => false;
    sim.duplicate = () => false;
    sim.jitter = 0;
    sim.advance(10 * 60_000);
    agree(a, b, `seed ${seed}`);
    for (const n of [a, b]) {
      const d = n.engine.nextDeadline();
      assert.ok(d === undefined || d > sim.now, 'no deadline is left in the past (a driver would spin)');
    }
  });
}
