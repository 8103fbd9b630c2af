/**
 * When a cluster that has just come up is at rest. `up` returns once every tunnel and pod pair
 * answers, but the agents are still busy then: retransmissions, DPD answers late from the
 * saturated start, the last node syncs. A CPU-at-rest figure taken seconds after `up` measured
 * that tail (at 100 nodes, 100–115 % of a core ten seconds after `up`). So the agents' CPU is
 * sampled in equal windows until it stops falling, and only then measured.
 */

export interface SettleRule {
  /** Length of each sampling window (s). */
  windowS: number;
  /** Give up waiting after this long (s): the measurement is then taken anyway, and marked unsettled. */
  maxS: number;
  /** Settled when a window's rate is within this fraction of the window before it… */
  relative: number;
  /** …or within this many percent of a core of it (low rates are noisy in ticks). */
  absolutePct: number;
}

export const SETTLE_RULE: SettleRule = { windowS: 10, maxS: 240, relative: 0.15, absolutePct: 1 };

/**
 * Whether the rates (percent of a core, one per window, oldest first) have stopped moving: the
 * last two windows agree within the rule's tolerance. A rate still falling (or rising) by more
 * than that is not at rest yet.
 */
export function settled(ratesPct: readonly number[], rule: SettleRule = SETTLE_RULE): boolean {
  if (ratesPct.length < 2) return false;
  const prev = ratesPct[ratesPct.length - 2]!;
  const last = ratesPct[ratesPct.length - 1]!;
  return Math.abs(last - prev) <= Math.max(rule.relative * prev, rule.absolutePct);
}

/**
 * Samples `cpuSeconds` (the agents' CPU so far) every rule.windowS until `settled`, or until
 * rule.maxS. Returns how long it waited and whether the rate settled; `rates` are the windows' rates.
 */
export async function waitUntilAtRest(
  cpuSeconds: () => number,
  rule: SettleRule = SETTLE_RULE,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<{ waitedS: number; settled: boolean; ratesPct: number[] }> {
  const ratesPct: number[] = [];
  let waitedS = 0;
  let before = cpuSeconds();
  while (waitedS < rule.maxS) {
    await sleep(rule.windowS * 1000);
    waitedS += rule.windowS;
    const now = cpuSeconds();
    ratesPct.push(Number(((100 * (now - before)) / rule.windowS).toFixed(1)));
    before = now;
    if (settled(ratesPct, rule)) return { waitedS, settled: true, ratesPct };
  }
  return { waitedS, settled: false, ratesPct };
}
