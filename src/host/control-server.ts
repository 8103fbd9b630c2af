import net from 'node:net';
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../util/errors.js';
import { MAX_REQUEST_BYTES, type ControlResponse } from './control-protocol.js';

export type ControlHandler<Req> = (req: Req) => ControlResponse | Promise<ControlResponse>;

/** Turns one request line into a request, or a message saying what is wrong with it. */
export type RequestParser<Req> = (line: string) => Req | string;

/** True when something accepts connections on the unix socket `p`. */
function socketAlive(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(p);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

/**
 * Serves newline-delimited JSON requests on a unix socket readable by root only (mode 0600).
 * Each daemon (ipsecd, the node agent) passes the parser of its own requests.
 */
export class ControlServer<Req> {
  private server: net.Server | undefined;
  private readonly clients = new Set<net.Socket>();

  constructor(
    readonly socketPath: string,
    private readonly handler: ControlHandler<Req>,
    private readonly parse: RequestParser<Req>,
  ) {}

  async listen(): Promise<void> {
    mkdirSync(path.dirname(this.socketPath), { recursive: true, mode: 0o755 });
    let stale = false;
    try {
      stale = lstatSync(this.socketPath).isSocket();
      if (!stale) throw new UsageError(`--control ${this.socketPath}: exists and is not a socket; choose another path`);
    } catch (e) {
      if (e instanceof UsageError) throw e;
    }
    if (stale) {
      if (await socketAlive(this.socketPath)) {
        throw new UsageError(`--control ${this.socketPath}: another daemon is serving on this socket; stop it or choose another path`);
      }
      unlinkSync(this.socketPath); // left by a daemon that died without cleaning up
    }
    const server = net.createServer((sock) => this.serve(sock));
    // The socket file is created by bind(); a umask of 0177 makes it 0600 from the first moment.
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.socketPath, () => { server.off('error', reject); resolve(); });
      });
    } finally {
      process.umask(oldMask);
    }
    chmodSync(this.socketPath, 0o600);
    this.server = server;
  }

  private serve(sock: net.Socket): void {
    this.clients.add(sock);
    sock.on('close', () => this.clients.delete(sock));
    sock.on('error', () => sock.destroy());
    let buf = '';
    let queue = Promise.resolve();
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_REQUEST_BYTES) {
        sock.end(JSON.stringify({ ok: false, error: 'request too long' }) + '\n');
        return;
      }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line === '') continue;
        // Answers go out in request order even when a handler is asynchronous.
        queue = queue.then(async () => {
          const req = this.parse(line);
          let res: ControlResponse;
          if (typeof req === 'string') res = { ok: false, error: req };
          else {
            try {
              res = await this.handler(req);
            } catch (e) {
              res = { ok: false, error: (e as Error).message };
            }
          }
          if (!sock.destroyed) sock.write(JSON.stringify(res) + '\n');
        });
      }
    });
  }

  /** Stops serving and removes the socket file. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const c of this.clients) c.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    try { unlinkSync(this.socketPath); } catch { /* already gone */ }
  }
}
