/**
 * Is a process with this pid alive? Signal 0 checks without sending anything; EPERM means it
 * exists but belongs to someone else, which is still alive.
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
