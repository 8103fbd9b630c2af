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
  /** How many windows make one span: settled is judged between the last two spans. */
  spanWindows: number;
  /** Give up waiting after this long (s): the measurement is then taken anyway, and marked unsettled. */
  maxS: number;
  /** Settled when the last span's rate is within this fraction of the span before it… */
  relative: number;
  /** …or within this many percent of a core of it (low rates are noisy in ticks). */
  absolutePct: number;
}

/**
 * 10 s windows, judged 30 s against the 30 s before. A first form compared single 10 s windows
 * within 15 %: at 100 nodes it called the agents settled 20 s after `up` while their CPU was still
 * falling by a few percent a window (the tail of the mesh falls for one to two minutes).
 */
export const SETTLE_RULE: SettleRule = { windowS: 10, spanWindows: 3, maxS: 300, relative: 0.1, absolutePct: 1 };

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * Whether the rates (percent of a core, one per window, oldest first) have stopped moving: the
 * mean of the last span of windows agrees with the span before it within the rule's tolerance.
 * A rate still falling (or rising) by more than that is not at rest yet.
 */
export function settled(ratesPct: readonly number[], rule: SettleRule = SETTLE_RULE): boolean {
  const n = rule.spanWindows;
  if (ratesPct.length < 2 * n) return false;
  const prev = mean(ratesPct.slice(-2 * n, -n));
  const last = mean(ratesPct.slice(-n));
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
