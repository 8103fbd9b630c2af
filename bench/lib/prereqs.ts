import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from '../../test/helpers/paths.js';

/**
 * The bench's prerequisites step: the Debian packages of scripts/install-deps.sh (iperf3,
 * strongSwan, openssl, …), with `--bench` also the WireGuard peers when their rows are asked for.
 * The script says in one line what it installs and is silent when all is there. A failure (no
 * network, no apt) is reported and the run goes on: a row whose tool is missing says so itself.
 */
export function ensurePackages(wireguardRows: boolean, log: (m: string) => void): void {
  const script = path.join(repoRoot, 'scripts', 'install-deps.sh');
  const r = spawnSync('bash', [script, ...(wireguardRows ? ['--bench'] : [])], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 900_000 });
  if (r.status !== 0) log(`bench: scripts/install-deps.sh failed (${r.status ?? r.signal}); rows whose tools are missing will say so`);
}
