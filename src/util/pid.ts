import { readFileSync } from 'node:fs';

/**
 * Is a process with this pid alive? Signal 0 checks without sending anything; EPERM means it
 * exists but belongs to someone else, which is still alive. A zombie — it has exited (or was
 * SIGKILLed) and waits for its parent to reap it — is not alive: it holds no resources but its
 * pid, and signals no longer reach it, so a caller waiting for a process to end stops waiting.
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return !isZombie(pid);
}

/** /proc/<pid>/stat is "pid (comm) S …"; comm may hold spaces and parentheses, so the state is the field after the last ')'. */
function isZombie(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false; // no /proc (or it went between the two reads): signal 0 said it exists
  }
  const close = stat.lastIndexOf(')');
  return stat.charAt(close + 2) === 'Z';
}
