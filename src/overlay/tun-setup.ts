import { execFile } from 'node:child_process';

/**
 * Brings an overlay TUN up with the pod MTU and points routes at it (`ip route replace`, so a
 * restart over a leftover route is fine). Runs `ip` in the caller's network namespace.
 */
function ip(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { encoding: 'utf8', timeout: 10_000 }, (err, _out, stderr) => {
      if (err) reject(new Error(`ip ${args.join(' ')}: ${(stderr || err.message).trim()}`));
      else resolve();
    });
  });
}

export async function configureTun(name: string, mtu: number, routes: readonly { dst: string; src?: string }[]): Promise<void> {
  // txqueuelen 4096 (the tun default is 500, a third of a second at 1500 pps): packets wait for a
  // busy agent instead of being dropped by the kernel; ipsecd's TUN has the same (ipsecd/routes.ts).
  await ip(['link', 'set', 'dev', name, 'mtu', String(mtu), 'txqueuelen', '4096', 'up']);
  for (const r of routes) {
    await ip(['route', 'replace', r.dst, 'dev', name, ...(r.src ? ['src', r.src] : [])]);
  }
}
