/** Calendar arithmetic for certificate lifetimes (UTC, whole seconds as X.509 stores them). */

export const DAY_MS = 86_400_000;

export function addYears(t: Date, years: number): Date {
  const whole = Math.trunc(years);
  const d = new Date(t.getTime());
  d.setUTCFullYear(d.getUTCFullYear() + whole);
  const frac = years - whole;
  // Fractions of a year (4.5 y) as months, so "4.5 years" is 4 years and 6 months.
  if (frac) d.setUTCMonth(d.getUTCMonth() + Math.round(frac * 12));
  return d;
}

export function addMonths(t: Date, months: number): Date {
  const d = new Date(t.getTime());
  d.setUTCMonth(d.getUTCMonth() + months);
  return d;
}

export function truncateToSecond(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

/**
 * The clock every daemon uses: real time shifted by OI_CLOCK_OFFSET, a test hook to jump years
 * ahead without waiting. The offset is a number with a unit: ms, s, m, h, d or y (365.25 days),
 * e.g. `OI_CLOCK_OFFSET=4.5y`. Unset means no shift.
 */
export function parseClockOffset(text: string | undefined): number {
  if (text === undefined || text.trim() === '') return 0;
  const m = /^\s*(-?[0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d|y)?\s*$/.exec(text);
  if (!m) throw new Error(`OI_CLOCK_OFFSET: "${text}" is not a duration (e.g. 4.5y, 3285d, 90s)`);
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: DAY_MS, y: 365.25 * DAY_MS }[(m[2] ?? 'ms') as 'ms'];
  return n * unit;
}

export type Clock = () => number;

export function clockFromEnv(env: NodeJS.ProcessEnv = process.env): Clock {
  const offset = parseClockOffset(env.OI_CLOCK_OFFSET);
  return () => Date.now() + offset;
}

/**
 * A wall clock for certificate decisions whose offset can move while a daemon runs: started
 * from OI_CLOCK_OFFSET and moved by the agent's `clock/offset` control command, so a live
 * cluster can be taken 4.5 or 9 years ahead without restarting anything. Timers (retransmits,
 * rekeys, DPD, lifetimes) never read it: like the kernel's XFRM lifetimes they follow elapsed
 * time, so a wall-clock jump changes which certificates are valid, not which SAs expire.
 */
export class ShiftableClock {
  constructor(private offsetMs = 0) {}

  readonly now: Clock = () => Date.now() + this.offsetMs;

  get offset(): number {
    return this.offsetMs;
  }

  setOffset(ms: number): void {
    this.offsetMs = ms;
  }
}
