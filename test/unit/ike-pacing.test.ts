import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InitiationPacer } from '../../src/ike/pacer.js';
import { conn, pskAuth, Sim, type Node } from './ike-sim.js';

const HUB = '192.0.2.1';
const peerAddr = (i: number): string => `198.51.100.${i + 1}`;

/** A hub with one connection per peer (all initiated by the hub), PSK, transport mode. */
function mesh(peers: number, window: number): { sim: Sim; hub: Node; nodes: Node[] } {
  const sim = new Sim();
  const child = { mode: 'transport' as const, localTs: ['dynamic'], remoteTs: ['dynamic'] };
  const hub = sim.add('hub', HUB, Array.from({ length: peers }, (_, i) => conn(`p${i}`, HUB, peerAddr(i), {}, child)),
    pskAuth('secret', 'hub.example', 'peer.example'), { timers: { initiationWindow: window } });
  const nodes = Array.from({ length: peers }, (_, i) => sim.add(`n${i}`, peerAddr(i), [conn('hub', peerAddr(i), HUB, {}, child)], pskAuth('secret', 'peer.example', 'hub.example')));
  return { sim, hub, nodes };
}

/** IKE SAs the hub initiated that are not established yet, by its status (independent of the pacer's own count). */
function initiating(hub: Node): number {
  return hub.engine.status().ike_sas.filter((s) => s.state === 'init-sent' || s.state === 'auth-sent').length;
}

describe('ike initiation pacing', () => {
  it('keeps at most `initiationWindow` initiations in flight and brings every peer up', () => {
    const { sim, hub } = mesh(40, 6);
    let most = 0;
    sim.drop = () => {
      most = Math.max(most, initiating(hub));
      return false;
    };
    for (let i = 0; i < 40; i++) hub.engine.initiate(`p${i}`);
    assert.equal(initiating(hub), 6);
    assert.deepEqual(hub.engine.initiations, { inFlight: 6, pending: 34, window: 6 });
    sim.flush();
    assert.equal(hub.outputs.filter((o) => o.kind === 'send').length, 6, 'only the window\'s IKE_SA_INITs leave at first');
    sim.advance(5000);
    assert.equal(hub.childUps().length, 40);
    assert.equal(hub.ikeUps().length, 40);
    assert.equal(most, 6);
    assert.equal(hub.engine.counters.retransmits, 0);
    assert.deepEqual(hub.engine.initiations, { inFlight: 0, pending: 0, window: 6 });
  });

  it('a dead peer gives up its slot at its first retransmission: live peers are not blocked behind it', () => {
    const { sim, hub } = mesh(8, 2);
    const dead = new Set([peerAddr(0), peerAddr(1)]);
    sim.drop = (p) => dead.has(p.to.address);
    for (let i = 0; i < 8; i++) hub.engine.initiate(`p${i}`);
    sim.advance(3900);
    assert.equal(hub.ikeUps().length, 0, 'both slots held by the dead peers until their first retransmission');
    sim.advance(1100); // first retransmission at 4 s
    assert.equal(hub.ikeUps().length, 6, 'the six live peers came up');
    assert.ok(hub.engine.counters.retransmits >= 2);
    // Two retransmissions halved the window to 1; six successes widened it back to its maximum.
    assert.equal(hub.engine.initiations.window, 2);
    assert.equal(hub.engine.initiations.inFlight, 0);
    assert.equal(initiating(hub), 2, 'the dead peers are still being retried');
    sim.advance(200_000); // five retransmissions (4 s × 1.8^n), then the last wait: about 165 s in all
    assert.deepEqual(hub.ikeDowns().map((d) => d.reason), ['peer not responding', 'peer not responding']);
  });

  it('asking again for a waiting connection changes nothing; terminate cancels a waiting initiation', () => {
    const { sim, hub } = mesh(3, 1);
    hub.engine.initiate('p0');
    hub.engine.initiate('p1');
    hub.engine.initiate('p1');
    hub.engine.initiate('p2');
    assert.deepEqual(hub.engine.initiations, { inFlight: 1, pending: 2, window: 1 });
    assert.equal(hub.engine.terminate('p2'), true);
    assert.equal(hub.engine.terminate('p2'), false);
    sim.advance(3000);
    assert.deepEqual(hub.ikeUps().map((u) => u.name).sort(), ['p0', 'p1']);
    assert.equal(hub.engine.status().ike_sas.filter((s) => s.name === 'p1').length, 1);
    // A removed connection's waiting initiation is dropped too.
    hub.engine.initiate('p0');
    hub.engine.initiate('p2');
    hub.engine.initiate('p1');
    assert.equal(hub.engine.initiations.pending, 2);
    assert.equal(hub.engine.removeConnection('p2'), true);
    assert.equal(hub.engine.initiations.pending, 1);
    sim.advance(3000);
    assert.equal(hub.engine.status().ike_sas.filter((s) => s.name === 'p2').length, 0);
    assert.throws(() => hub.engine.initiate('nope'), RangeError);
  });

  it('InitiationPacer: window bounds, halving, growth, order', () => {
    const p = new InitiationPacer(4);
    for (let i = 1; i <= 4; i++) {
      assert.equal(p.request(`c${i}`, 0), true);
      p.started(i, 0);
    }
    assert.equal(p.request('c5', 0), false);
    assert.equal(p.request('c6', 0), false);
    assert.equal(p.request('c5', 0), false);
    assert.equal(p.pendingCount, 2);
    assert.deepEqual(p.takeStartable(0), []);
    p.retransmitting(1);
    assert.equal(p.window, 2);
    p.retransmitting(1); // already out of the window: no second halving
    assert.equal(p.window, 2);
    p.retransmitting(2);
    assert.equal(p.window, 1);
    p.retransmitting(3);
    assert.equal(p.window, 1, 'never below 1');
    assert.equal(p.inFlightCount, 1);
    assert.deepEqual(p.takeStartable(0), []);
    p.settled(4, true);
    assert.equal(p.window, 2);
    assert.deepEqual(p.takeStartable(0), ['c5', 'c6'], 'in order, as many as the window allows');
    p.started(5, 0);
    p.started(6, 0);
    for (const s of [5, 6]) p.settled(s, true);
    assert.equal(p.window, 4);
    for (let s = 7; s < 20; s++) {
      p.started(s, 0);
      p.settled(s, true);
    }
    assert.equal(p.window, 4, 'never above max');
    p.started(30, 0);
    p.settled(30, false);
    assert.equal(p.window, 4, 'a failure without retransmission does not shrink it');
    assert.equal(p.request('x', 0), true);
    assert.equal(p.cancel('x'), false);
    assert.throws(() => new InitiationPacer(0), RangeError);
    assert.throws(() => new InitiationPacer(4, -1), RangeError);
  });

  it('InitiationPacer with spacing: one start per jittered gap, woken when the gap ends', () => {
    const draws = [0, 0.999, 0.5];
    let k = 0;
    const p = new InitiationPacer(8, 100, () => draws[k++ % draws.length]!);
    assert.equal(p.request('c1', 0), true);
    p.started(1, 0); // next start at 0 + 100 × 0.5 = 50
    assert.equal(p.request('c2', 10), false, 'inside the gap: waits though the window has room');
    assert.equal(p.request('c3', 10), false);
    assert.equal(p.wakeAt(), 50);
    assert.deepEqual(p.takeStartable(49), []);
    assert.deepEqual(p.takeStartable(50), ['c2'], 'one per gap');
    p.started(2, 50); // next at 50 + 100 × 1.499 ≈ 200
    assert.deepEqual(p.takeStartable(60), []);
    assert.equal(Math.round(p.wakeAt()!), 200);
    assert.deepEqual(p.takeStartable(200), ['c3']);
    p.started(3, 200);
    assert.equal(p.wakeAt(), undefined, 'nothing waits');
  });

  it('spacing spreads the IKE_SA_INITs of many peers over time, and every peer still comes up', () => {
    const sim = new Sim();
    const child = { mode: 'transport' as const, localTs: ['dynamic'], remoteTs: ['dynamic'] };
    const peers = 30;
    const hub = sim.add('hub', HUB, Array.from({ length: peers }, (_, i) => conn(`p${i}`, HUB, peerAddr(i), {}, child)),
      pskAuth('secret', 'hub.example', 'peer.example'), { timers: { initiationWindow: 32, initiationSpacingMs: 20 } });
    for (let i = 0; i < peers; i++) sim.add(`n${i}`, peerAddr(i), [conn('hub', peerAddr(i), HUB, {}, child)], pskAuth('secret', 'peer.example', 'hub.example'));
    const initsAt: number[] = [];
    sim.drop = (p) => {
      if (p.from.address === HUB && p.bytes[18] === 34 /* IKE_SA_INIT */ && (p.bytes[19]! & 0x20) === 0) initsAt.push(sim.now);
      return false;
    };
    for (let i = 0; i < peers; i++) hub.engine.initiate(`p${i}`);
    sim.advance(5000);
    assert.equal(hub.ikeUps().length, peers);
    assert.equal(initsAt.length, peers, 'one IKE_SA_INIT each, none retransmitted');
    const gaps = initsAt.slice(1).map((t, i) => t - initsAt[i]!);
    assert.ok(gaps.every((g) => g >= 10 && g < 30), `gaps within 20 ms ± 50 %: ${gaps.join(',')}`);
    assert.ok(initsAt.at(-1)! - initsAt[0]! >= 29 * 10, 'spread over the gaps, not one burst');
  });
});
