import { readFileSync } from 'node:fs';
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
