import { open, link, unlink, readdir, stat, rename } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { pidAlive } from '../util/pid.js';

/** Temporary files start with this; readers skip them and `sweepTemps` removes those of dead writers. */
export const TEMP_PREFIX = '.tmp.';

/** fsync a directory, so a link/rename/unlink inside it survives a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes `data` to a new temp file in `dir`, fsynced, and returns its path. */
export async function writeTemp(dir: string, data: string | Uint8Array, mode = 0o644): Promise<string> {
  const tmp = path.join(dir, `${TEMP_PREFIX}${process.pid}.${randomBytes(6).toString('hex')}`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return tmp;
}

/**
 * Creates `target` with `data` atomically and only if it does not exist yet: the content is
 * written and fsynced under a temp name first and then hard-linked into place (link fails with
 * EEXIST instead of replacing, which is what makes compare-and-swap possible without locks).
 * Returns false when target already existed.
 */
export async function createExclusive(target: string, data: string | Uint8Array, mode = 0o644): Promise<boolean> {
  const dir = path.dirname(target);
  const tmp = await writeTemp(dir, data, mode);
  try {
    await link(tmp, target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => {});
  }
  await fsyncDir(dir);
  return true;
}

/** Replaces (or creates) `target` atomically: temp file, fsync, rename, fsync dir. */
export async function replaceFile(target: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = path.dirname(target);
  const tmp = await writeTemp(dir, data, mode);
  try {
    await rename(tmp, target);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fsyncDir(dir);
}

/** Removes temp files left by writers that died (kill -9) before linking them. */
export async function sweepTemps(dir: string): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return removed;
  }
  for (const n of names) {
    if (!n.startsWith(TEMP_PREFIX)) continue;
    const pid = Number(n.slice(TEMP_PREFIX.length).split('.')[0]);
    if (Number.isInteger(pid) && pid > 0 && pidAlive(pid) && pid !== process.pid) continue;
    if (pid === process.pid) {
      // Ours and still in flight only if very recent.
      const st = await stat(path.join(dir, n)).catch(() => undefined);
      if (!st || Date.now() - st.mtimeMs < 60_000) continue;
    }
    await unlink(path.join(dir, n)).catch(() => {});
    removed.push(n);
  }
  return removed;
}
