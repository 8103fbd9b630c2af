import { readFileSync, writeFileSync } from 'node:fs';
import type { StrongSwan } from '../../test/helpers/strongswan.js';

/**
 * The strongSwan test harness logs keys and packets at levels 2-4 (the interop tests read them).
 * A benchmark must not charge charon for a debug log it would not write in production: this sets
 * every filelog level to 1 (charon's default) and reloads the settings (`swanctl --reload-settings`
 * reopens the loggers).
 */
export async function quietCharon(sw: StrongSwan): Promise<void> {
  const conf = readFileSync(sw.confPath, 'utf8');
  const quiet = conf.replace(/^(\s+)(default|ike|chd|cfg|knl|esp|net) = \d+$/gm, '$1$2 = 1');
  writeFileSync(sw.confPath, quiet);
  const r = await sw.swanctl(['--reload-settings']);
  if (!r.ok) throw new Error(`swanctl --reload-settings failed: ${r.stderr}${r.stdout}`);
}
