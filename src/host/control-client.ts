import net from 'node:net';
import { OperationFailed } from '../util/errors.js';
import type { ControlRequest, ControlResponse } from './control-protocol.js';

/**
 * Sends one request to a daemon's control socket and returns its answer. A socket that is
 * missing or refuses is an OperationFailed (exit 1): the command was right, the daemon is not there.
 */
export function controlRequest(socketPath: string, req: ControlRequest | Record<string, unknown>, timeoutMs = 5000): Promise<ControlResponse> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new OperationFailed(`control socket ${socketPath}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.once('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      sock.destroy();
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as ControlResponse);
      } catch {
        reject(new OperationFailed(`control socket ${socketPath}: answer is not JSON`));
      }
    });
    sock.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = e.code === 'ENOENT' ? 'does not exist'
        : e.code === 'ECONNREFUSED' ? 'refuses connections (stale socket: the daemon is gone)'
        : e.code === 'EACCES' ? 'permission denied (it is mode 0600: run as root)'
        : e.message;
      reject(new OperationFailed(`control socket ${socketPath} ${why}; is \`overlay-ipsec ipsecd --control ${socketPath}\` running?`));
    });
    sock.once('end', () => {
      clearTimeout(timer);
      if (buf.indexOf('\n') < 0) reject(new OperationFailed(`control socket ${socketPath}: closed without an answer`));
    });
  });
}
