import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTracked as runAsync } from './exec.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const espThroughputJs = path.join(here, '..', 'esp-throughput.js');

export interface EspInProcess {
  /** MB/s per core (CPU time), 1400-byte packets sealed and opened, no I/O: the last round of bench/esp-throughput. */
  node_crypto_baseline: number | null;
  sa_pair: number | null;
  data_path: number | null;
}

/**
 * Runs the ESP engineer's in-process microbenchmark (bench/esp-throughput.ts) and keeps its
 * per-core figures: how fast the ESP code itself is, without TUN and sockets — the distance
 * between this and the tunnel rows is the I/O path's cost.
 */
export async function espInProcess(seconds: number): Promise<EspInProcess> {
  const r = await runAsync([process.execPath, espThroughputJs, String(seconds)], { timeoutMs: (seconds * 6 + 60) * 1000 });
  const last = (prefix: string): number | null => {
    const lines = r.stdout.split('\n').filter((l) => l.startsWith(prefix));
    const m = /CPU \d+ ms → \d+ packets\/s, ([\d.]+) MB\/s per core/.exec(lines.at(-1) ?? '');
    return m ? Number(m[1]) : null;
  };
  return { node_crypto_baseline: last('baseline'), sa_pair: last('SA pair'), data_path: last('data path') };
}
