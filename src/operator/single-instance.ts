import { mkdir, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { createExclusive } from '../store/atomic-file.js';
import { operatorDir } from '../store/layout.js';
import { pidAlive } from '../util/pid.js';

/** Is `pid` alive and (where /proc tells) an overlay-ipsec operator, not a process that reused the pid? */
async function operatorAlive(pid: number): Promise<boolean> {
  if (!pidAlive(pid)) return false;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  return cmdline === undefined || cmdline.split('\0').includes('operator');
}

/**
 * One operator per state directory: `<state>/operator/pid` holds the running operator's pid.
 * A pid file left by a killed operator (kill -9) is taken over. The store stays consistent even
 * with two operators (every decision is a CAS); this only avoids signing the same CSR twice.
 * Returns the release function, or the pid of the operator already running.
 */
export async function claimOperator(stateDir: string): Promise<{ release: () => Promise<void> } | { runningPid: number }> {
  const dir = operatorDir(stateDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, 'pid');
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await createExclusive(file, `${process.pid}\n`, 0o644)) {
      return {
        release: async () => {
          const text = await readFile(file, 'utf8').catch(() => '');
          if (Number(text.trim()) === process.pid) await unlink(file).catch(() => {});
        },
      };
    }
    const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && (await operatorAlive(pid))) return { runningPid: pid };
    await unlink(file).catch(() => {}); // stale: its operator is gone
  }
  throw new Error(`${file}: cannot claim the operator pid file`);
}
