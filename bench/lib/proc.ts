import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let ticks: number | undefined;

/** Clock ticks per second for /proc's utime/stime (CLK_TCK, 100 on Linux almost everywhere). */
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/**
 * CPU seconds (user + system, all threads) a process has used so far, from /proc/PID/stat;
 * undefined when the process is gone. The command name (field 2) may contain spaces and
 * parentheses, so fields are counted after its closing parenthesis.
 */
export function cpuSeconds(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14, stime field 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return (utime + stime) / clockTicks();
}

/** Sum of cpuSeconds over processes (missing ones count 0). */
export function cpuSecondsOf(pids: readonly number[]): number {
  return pids.reduce((s, p) => s + (cpuSeconds(p) ?? 0), 0);
}

/** Resident set size of a process in bytes (VmRSS), from /proc/PID/status. */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A process's time on a CPU and time runnable but waiting for one, in seconds. */
export interface SchedTimes {
  onCpuS: number;
  waitS: number;
}

/**
 * Parses one thread's /proc/PID/task/TID/schedstat: "<ns on a CPU> <ns waiting on a run queue>
 * <timeslices>". The wait is what CPU seconds cannot show: on a busy machine a CPU-bound process's
 * CPU per unit of work stays the same while its wall time grows by the time others ran instead.
 */
export function parseSchedstat(text: string): SchedTimes {
  const f = text.trim().split(/\s+/);
  const onCpu = Number(f[0]);
  const wait = Number(f[1]);
  if (f.length < 2 || !Number.isFinite(onCpu) || !Number.isFinite(wait)) throw new Error(`unexpected schedstat line: ${JSON.stringify(text)}`);
  return { onCpuS: onCpu / 1e9, waitS: wait / 1e9 };
}

/**
 * SchedTimes of a process (or 'self') so far, summed over its live threads (charon works in a
 * thread pool; /proc/PID/schedstat alone is the main thread's); undefined when it is gone or the
 * kernel keeps no schedstats.
 */
export function schedTimes(pid: number | 'self'): SchedTimes | undefined {
  const sum: SchedTimes = { onCpuS: 0, waitS: 0 };
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      let text: string;
      try {
        text = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8');
      } catch {
        continue; // the thread ended meanwhile
      }
      const t = parseSchedstat(text);
      sum.onCpuS += t.onCpuS;
      sum.waitS += t.waitS;
    }
  } catch {
    return undefined;
  }
  return sum;
}

/**
 * Share of a wall-clock window a process spent runnable but not running (summed over threads, so
 * above 1 when several wait at once): from SchedTimes at the window's start and end; null when
 * either is missing or the window is empty.
 */
export function cpuWaitShare(start: SchedTimes | undefined, end: SchedTimes | undefined, wallS: number): number | null {
  if (!start || !end || !(wallS > 0)) return null;
  return Math.max(0, (end.waitS - start.waitS) / wallS);
}
