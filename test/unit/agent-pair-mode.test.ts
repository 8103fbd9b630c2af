import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  acceptsPlain, nodePhase, planPair, sendsEsp, type PairMemory, type PairState, type PeerReport, type WantedMode,
} from '../../src/agent/pair-mode.js';

/**
 * Two nodes switching one pair, driven step by step in a random order with reports that arrive
 * late: after every step, each direction's sender must use a path its receiver takes — plain
 * only to a receiver that accepts plain, ESP only on an SA pair the receiver holds — and packets
 * still in flight on a path left less than the drain time ago must still be taken.
 */
const DRAIN = 1000;

interface SimNode {
  name: string;
  memory: PairMemory | undefined;
  /** Our SPIs for the pair while SAs exist: inbound (what the peer sends on) and outbound. */
  spiIn: number | undefined;
  spiOut: number | undefined;
  /** Our reports on their way to the peer (the store and its watch take up to half the drain time). */
  reports: { at: number; report: PeerReport }[];
  /** When we last sent on each path. */
  lastPlain: number;
  lastEsp: number;
}

function node(name: string): SimNode {
  return { name, memory: undefined, spiIn: undefined, spiOut: undefined, reports: [], lastPlain: -Infinity, lastEsp: -Infinity };
}

function state(n: SimNode): PairState {
  return n.memory!.state;
}

/** Deterministic pseudo-random numbers (a test that fails must fail again the same way). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** One simulated pair: planning, publishing, SA setup (both ends) and teardown, each a separate step. */
class PairSim {
  readonly a = node('a');
  readonly b = node('b');
  now = 0;
  private nextSpi = 0x1000;

  constructor(public wanted: WantedMode) {
    this.plan(this.a);
    this.plan(this.b);
    this.publish(this.a);
    this.publish(this.b);
    if (wanted === 'Full') this.installSas();
  }

  peer(n: SimNode): SimNode {
    return n === this.a ? this.b : this.a;
  }

  /** What the peer of `n` has seen of `n`'s reports by now. */
  seen(n: SimNode): PeerReport | undefined {
    return n.reports.filter((r) => r.at <= this.now).pop()?.report;
  }

  /** One sync of a node: plan from the peer's report as seen now, apply, publish (delivered later). */
  plan(n: SimNode, delay = 0): void {
    const out = n.spiOut === undefined ? undefined : [n.spiOut];
    const p = planPair({ wanted: this.wanted, memory: n.memory, spisOut: out, peer: this.seen(this.peer(n)), now: this.now, drainMs: DRAIN });
    n.memory = p.memory;
    // SAs go when the pair no longer needs them: both ends at once (the DELETE exchange).
    if (state(n) === 'plain' && n.spiIn !== undefined) this.removeSas();
    this.publish(n, delay);
  }

  publish(n: SimNode, delay = 0): void {
    n.reports.push({ at: this.now + delay, report: { state: state(n), spisIn: n.spiIn === undefined ? [] : [n.spiIn] } });
  }

  installSas(): void {
    if (this.a.spiIn !== undefined) return;
    const x = this.nextSpi++;
    const y = this.nextSpi++;
    this.a.spiIn = x;
    this.b.spiOut = x;
    this.b.spiIn = y;
    this.a.spiOut = y;
  }

  removeSas(): void {
    for (const n of [this.a, this.b]) {
      n.spiIn = undefined;
      n.spiOut = undefined;
    }
  }

  /** Each direction: what the sender sends now is taken by the receiver, and so is what it sent within the drain time. */
  check(step: string): void {
    for (const [s, r] of [[this.a, this.b], [this.b, this.a]] as const) {
      const where = `${step}: ${s.name}(${state(s)}) → ${r.name}(${state(r)})`;
      if (sendsEsp(state(s))) {
        assert.ok(s.spiOut !== undefined && s.spiOut === r.spiIn, `${where}: ESP on an SA the receiver does not hold`);
        s.lastEsp = this.now;
      } else {
        assert.ok(acceptsPlain(state(r)), `${where}: plain to a receiver that refuses it`);
        s.lastPlain = this.now;
      }
      if (this.now - s.lastPlain < DRAIN / 2) assert.ok(acceptsPlain(state(r)), `${where}: plain still in flight is refused`);
      if (this.now - s.lastEsp < DRAIN / 2) assert.ok(r.spiIn !== undefined, `${where}: ESP still in flight finds no SA`);
    }
  }

  /** Runs random steps until both ends are at the wanted end state. */
  run(random: () => number, label: string): number {
    const end: PairState = this.wanted === 'Full' ? 'encrypted' : 'plain';
    let steps = 0;
    while (state(this.a) !== end || state(this.b) !== end || this.seen(this.a)?.state !== end || this.seen(this.b)?.state !== end) {
      assert.ok(++steps < 10_000, `${label}: no end state (a ${state(this.a)}, b ${state(this.b)})`);
      this.now += Math.floor(random() * 300);
      const n = random() < 0.5 ? this.a : this.b;
      const what = random();
      if (what < 0.9) this.plan(n, Math.floor(random() * DRAIN / 2));
      else if (this.wanted === 'Full' || state(this.a) !== 'plain') this.installSas();
      if (this.a.spiIn === undefined && this.wanted === 'Full' && random() < 0.2) this.installSas();
      this.check(`${label} step ${steps}`);
    }
    return steps;
  }
}

test('pair mode: Full → Disabled → Full in random orders keeps every packet deliverable, and ends strict', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const random = rng(seed);
    const sim = new PairSim('Full');
    assert.equal(state(sim.a), 'encrypted');
    sim.check('start');
    sim.wanted = 'Disabled';
    sim.run(random, `seed ${seed} disabling`);
    assert.equal(sim.a.spiIn, undefined, 'SAs are gone once both ends are plain');
    sim.wanted = 'Full';
    sim.run(random, `seed ${seed} enabling`);
    assert.ok(!acceptsPlain(state(sim.a)) && !acceptsPlain(state(sim.b)), 'strict again');
  }
});

test('pair mode: a toggle undone half-way (Disabled again while enabling, and back) loses nothing', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const random = rng(seed * 7919);
    const sim = new PairSim('Disabled');
    for (const wanted of ['Full', 'Disabled', 'Full', 'Disabled', 'Full'] as const) {
      sim.wanted = wanted;
      // A few steps only, then the operator changes its mind.
      for (let i = 0; i < 1 + Math.floor(random() * 12); i++) {
        sim.now += Math.floor(random() * 300);
        const n = random() < 0.5 ? sim.a : sim.b;
        sim.plan(n, Math.floor(random() * DRAIN / 2));
        if (wanted === 'Full' && random() < 0.3) sim.installSas();
        sim.check(`seed ${seed} ${wanted}`);
      }
    }
    sim.run(random, `seed ${seed} settle`);
    assert.equal(state(sim.a), 'encrypted');
  }
});

test('pair mode: in Full, no report of the peer moves a pair towards plain', () => {
  const reports: (PeerReport | undefined)[] = [undefined, ...(['plain', 'enabling', 'sending-esp', 'encrypted', 'opening', 'sending-plain'] as const).map((s) => ({ state: s, spisIn: [] }))];
  let m = planPair({ wanted: 'Full', memory: undefined, spisOut: undefined, peer: undefined, now: 0, drainMs: DRAIN }).memory;
  assert.equal(m.state, 'encrypted');
  for (let t = 1; t < 50; t++) {
    const peer = reports[t % reports.length];
    m = planPair({ wanted: 'Full', memory: m, spisOut: [1, 2], peer, now: t * 1000, drainMs: DRAIN }).memory;
    assert.equal(m.state, 'encrypted', `after the peer reported ${peer?.state}`);
  }
});

test('pair mode: enabling waits for the peer to hold our outbound SPIs, and the drain before going strict', () => {
  const plan = (memory: PairMemory | undefined, spisOut: number[] | undefined, peer: PeerReport | undefined, now: number) =>
    planPair({ wanted: 'Full', memory, spisOut, peer, now, drainMs: DRAIN });
  let m: PairMemory = { state: 'plain', since: 0, drainFrom: undefined };
  m = plan(m, undefined, undefined, 1).memory;
  assert.equal(m.state, 'enabling');
  assert.equal(plan(m, [7, 8], { state: 'enabling', spisIn: [7] }, 2).memory.state, 'enabling', 'one of two SPIs held is not enough');
  m = plan(m, [7, 8], { state: 'enabling', spisIn: [8, 7] }, 3).memory;
  assert.equal(m.state, 'sending-esp');
  const waiting = plan(m, [7, 8], { state: 'sending-esp', spisIn: [7, 8] }, 10);
  assert.equal(waiting.memory.state, 'sending-esp');
  assert.equal(waiting.recheckInMs, DRAIN);
  assert.equal(plan(waiting.memory, [7, 8], { state: 'sending-esp', spisIn: [7, 8] }, 10 + DRAIN).memory.state, 'encrypted');
});

test('pair mode: the node phase is the wanted mode only once every pair is there', () => {
  assert.equal(nodePhase('Full', ['encrypted', 'encrypted']), 'Full');
  assert.equal(nodePhase('Full', ['encrypted', 'sending-esp']), 'enabling');
  assert.equal(nodePhase('Disabled', ['plain', 'opening']), 'disabling');
  assert.equal(nodePhase('Disabled', []), 'Disabled');
});
