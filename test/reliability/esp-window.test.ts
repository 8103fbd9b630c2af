// The ESP anti-replay window (RFC 4303 §3.4.3) under an adversarial network, checked against a
// model: fast-check draws delivery orders of real sealed packets (reordered, duplicated, held back
// beyond the window) and every packet must be delivered or refused exactly as the model says.
// (Single replays, tampering and unknown SPIs: test/unit/esp-datapath.test.ts; the window's own
// bitmap: test/unit/esp-replay.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ADDR_A, lab, udpPacket } from '../unit/esp-datapath-helpers.js';

const WINDOW = 32;
const N = 300;

/** What RFC 4303's receiver does with sequence number s: accept, or refuse as a replay. */
class WindowModel {
  private highest = 0;
  private readonly seen = new Set<number>();
  admit(s: number): boolean {
    if (s > this.highest) {
      this.highest = s;
      this.seen.add(s);
      return true;
    }
    if (this.highest - s >= WINDOW || this.seen.has(s)) return false;
    this.seen.add(s);
    return true;
  }
}

function sealed() {
  const l = lab('tunnel', { replayWindow: WINDOW });
  const pkts = Array.from({ length: N }, (_, i) => udpPacket('10.1.0.5', '10.2.0.7', 1000 + (i % 50000), 2, 8));
  l.a.dp.onTunPackets(pkts);
  return { ...l, datagrams: l.a.sent.map((s) => s.datagram), pkts };
}

/** One datagram off the wire: a fresh copy each time (the data path opens ESP in place). */
function deliver(b: ReturnType<typeof sealed>['b'], datagram: Buffer): void {
  const dg = Buffer.from(datagram);
  b.dp.onUdpEsp(dg, 0, dg.length, { address: ADDR_A, port: 4500 });
}

test('reordered within the window: every packet delivered once, every replay refused', () => {
  const { b, datagrams } = sealed();
  // Each block of WINDOW packets delivered back to front: displacement up to WINDOW - 1.
  const order: number[] = [];
  for (let base = 0; base < N; base += WINDOW) for (let i = Math.min(N, base + WINDOW) - 1; i >= base; i--) order.push(i);
  for (const i of order) deliver(b, datagrams[i]!);
  assert.equal(b.tun.length, N);
  assert.equal(b.dp.status().drops.replay, 0);
  for (const i of order) deliver(b, datagrams[i]!);
  assert.equal(b.tun.length, N, 'no replay reached the TUN');
  assert.equal(b.dp.status().drops.replay, N);
});

test('any delivery order (reordered, duplicated, late beyond the window): accepted and refused exactly as RFC 4303 says', () => {
  const order = fc.array(fc.oneof(
    fc.integer({ min: 1, max: N }),                    // anything
    fc.integer({ min: 1, max: 40 }),                   // early numbers again and again
  ), { minLength: 1, maxLength: 400 });
  let runs = 0;
  let refused = 0;
  let sent = 0;
  fc.assert(fc.property(order, (seqs) => {
    const { b, datagrams, pkts } = sealed();
    const model = new WindowModel();
    const expected: Buffer[] = [];
    for (const s of seqs) {
      sent++;
      if (model.admit(s)) expected.push(pkts[s - 1]!);
      else refused++;
      deliver(b, datagrams[s - 1]!);
    }
    assert.deepEqual(b.tun, expected);
    assert.equal(b.dp.status().drops.replay, seqs.length - expected.length);
    assert.deepEqual({ ...b.dp.status().drops, replay: 0 }, { auth_failed: 0, replay: 0, unknown_spi: 0, malformed: 0, policy: 0, lifetime: 0 });
    runs++;
  }), { numRuns: 150, seed: 4303 });
  assert.equal(runs, 150);
  assert.ok(refused > 0);
  process.stdout.write(`# ${runs} orders, ${sent} packets: ${sent - refused} delivered, ${refused} refused as replays, as the model said\n`);
});
