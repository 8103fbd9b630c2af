import { mkdir, readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { createExclusive } from '../store/atomic-file.js';
import { checkNodeName, nodeDir } from '../store/layout.js';

/** A node as it knows itself: its name, its system-id (made once, kept) and its own directory. */
export interface NodeIdentity {
  name: string;
  systemId: string;
  dir: string;
}

export const SYSTEM_ID_FILE = 'system-id';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class IdentityError extends Error {
  override name = 'IdentityError';
}

/**
 * Reads the node's system-id from `<state>/nodes/<name>/system-id`, creating it (UUID v4, or
 * `wanted` — like setting OVS external_ids:system-id) the first time. Creation is exclusive,
 * so two processes starting at once agree on one id.
 */
export async function loadOrCreateIdentity(stateDir: string, name: string, wanted?: string): Promise<NodeIdentity> {
  const bad = checkNodeName(name);
  if (bad) throw new IdentityError(bad);
  if (wanted !== undefined && !UUID_RE.test(wanted)) throw new IdentityError(`system-id "${wanted}" is not a lowercase UUID`);
  const dir = nodeDir(stateDir, name);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, SYSTEM_ID_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    let text: string | undefined;
    try {
      text = (await readFile(file, 'utf8')).trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== undefined) {
      if (!UUID_RE.test(text)) throw new IdentityError(`${file}: "${text.slice(0, 60)}" is not a system-id (a lowercase UUID); remove the file to make a new one`);
      if (wanted !== undefined && wanted !== text) throw new IdentityError(`node ${name} already has system-id ${text} (${file}), not ${wanted}`);
      return { name, systemId: text, dir };
    }
    await createExclusive(file, `${wanted ?? randomUUID()}\n`, 0o644);
  }
  throw new IdentityError(`${file}: cannot create the system-id`);
}
