import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/**
 * tcpdump on the underlay switch: inside `<prefix>-underlay` on its bridge, which sees every frame
 * between nodes while tcpdump holds it promiscuous. `--immediate-mode` and `-U` so nothing waits in
 * a buffer when the capture stops; `-Z root` so the file can be written where root can write.
 */
export class UnderlayCapture {
  private stderr = '';

  private constructor(readonly file: string, private readonly child: ChildProcess) {
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-4000);
    });
  }

  static async start(netns: string, iface: string, file: string, timeoutMs = 10_000): Promise<UnderlayCapture> {
    const child = spawn('ip', ['netns', 'exec', netns, 'tcpdump', '-i', iface, '-n', '-s', '0', '-U', '--immediate-mode', '-Z', 'root', '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    const c = new UnderlayCapture(file, child);
    // tcpdump says "listening on …" once the socket is bound: packets from then on are kept.
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`tcpdump on ${netns}/${iface} did not start within ${timeoutMs} ms: ${c.stderr.trim()}`));
      }, timeoutMs);
      const onData = () => {
        if (/listening on/.test(c.stderr)) {
          clearTimeout(t);
          child.stderr!.off('data', onData);
          resolve();
        }
      };
      child.stderr!.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`tcpdump on ${netns}/${iface} exited (${code}): ${c.stderr.trim()}`));
      });
    });
    return c;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Stops the capture and waits for tcpdump to flush and exit. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
}
