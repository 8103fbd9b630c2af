import os from 'node:os';
import { readFileSync } from 'node:fs';
import { runAsync } from '../../test/helpers/harness-util.js';

export interface MachineInfo {
  cpu_model: string;
  cores: number;
  kernel: string;
  node: string;
  openssl: string;
  node_openssl: string;
  memory_gb: number;
  /** 1, 5, 15-minute load averages when the run started and ended: other work on the machine. */
  load_start: number[];
  load_end?: number[];
  date: string;
}

export async function machineInfo(): Promise<MachineInfo> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  const ssl = await runAsync(['openssl', 'version'], { timeoutMs: 10_000 });
  return {
    cpu_model: model,
    cores: os.cpus().length,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    openssl: ssl.stdout.trim() || 'unknown',
    node_openssl: process.versions.openssl ?? 'unknown',
    memory_gb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    load_start: os.loadavg().map((x) => Math.round(x * 100) / 100),
    date: new Date().toISOString(),
  };
}

/**
 * The AEAD ceiling: `openssl speed -evp aes-256-gcm` on 1 KiB blocks, one process. OpenSSL
 * divides by the CPU time it used, so this is per core even on a loaded machine.
 * Returns MB/s (10^6 bytes per second).
 */
export async function aesGcmLimit(seconds: number): Promise<number | null> {
  const r = await runAsync(['openssl', 'speed', '-evp', 'aes-256-gcm', '-seconds', String(seconds), '-bytes', '1024', '-mr'], { timeoutMs: (seconds + 30) * 1000 });
  // "+F:<n>:AES-256-GCM:<bytes per second>" in machine-readable mode.
  const m = /^\+F:\d+:[^:]+:([\d.]+)/m.exec(r.stdout);
  return m ? Math.round(Number(m[1]) / 1e6) : null;
}
