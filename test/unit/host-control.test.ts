import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, statSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ControlServer } from '../../src/host/control-server.js';
import { parseRequest } from '../../src/ipsecd/control.js';
import { controlRequest } from '../../src/host/control-client.js';
import { OperationFailed, UsageError } from '../../src/util/errors.js';

function rawExchange(sock: string, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(sock, () => c.write(text));
    let buf = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => { buf += d; if (buf.split('\n').length > text.split('\n').length - 1) { c.destroy(); resolve(buf); } });
    c.on('error', reject);
  });
}

test('control socket: mode 0600, newline-delimited JSON, bad requests answered, removed on close', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'oit-ctl-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 'd.sock');
  const srv = new ControlServer(sock, (req) => (req.cmd === 'status' ? { ok: true, status: { hello: 1 } } : { ok: false, error: 'nope' }), parseRequest);
  await srv.listen();
  try {
    assert.equal(statSync(sock).mode & 0o777, 0o600);
    assert.deepEqual(await controlRequest(sock, { cmd: 'status' }), { ok: true, status: { hello: 1 } });
    assert.deepEqual(await controlRequest(sock, { cmd: 'rekey', conn: 'x' }), { ok: false, error: 'nope' });
    const answers = (await rawExchange(sock, 'not json\n{"cmd":"fly"}\n{"cmd":"status"}\n')).trim().split('\n').map((l) => JSON.parse(l) as unknown);
    assert.deepEqual(answers, [
      { ok: false, error: 'request is not JSON' },
      { ok: false, error: 'unknown command "fly" (status, initiate, rekey, terminate)' },
      { ok: true, status: { hello: 1 } },
    ]);
    // A second daemon on the same socket is refused; the first keeps serving.
    await assert.rejects(new ControlServer(sock, () => ({ ok: true }), parseRequest).listen(), UsageError);
  } finally {
    await srv.close();
  }
  assert.equal(existsSync(sock), false);
  await assert.rejects(controlRequest(sock, { cmd: 'status' }), (e: unknown) => e instanceof OperationFailed && /does not exist/.test(e.message));
});

test('a stale socket left by a dead daemon is replaced', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'oit-ctl-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 'd.sock');
  // A process that bound the socket and died: the file stays, nobody listens.
  const r = spawnSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', sock]);
  assert.equal(r.status, 0, String(r.stderr));
  assert.ok(statSync(sock).isSocket());
  const srv = new ControlServer(sock, () => ({ ok: true, n: 2 }), parseRequest);
  await srv.listen();
  assert.deepEqual(await controlRequest(sock, { cmd: 'status' }), { ok: true, n: 2 });
  await srv.close();
});
