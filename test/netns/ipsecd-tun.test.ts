import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { NetnsLab, waitFor } from '../helpers/netns.js';
import { repoRoot } from '../helpers/paths.js';

// The native TUN addon, driven from Node's event loop inside a namespace: a tiny "host" behind
// the TUN answers pings to 10.77.0.2 by rewriting each echo request into a reply. A ping flood
// makes the kernel queue packets faster than one per event-loop turn, so batches form.

const lab = new NetnsLab('oit-esp');
after(async () => {
  await lab.cleanup();
});

const RESPONDER = `
import { openTun } from '${path.join(repoRoot, 'dist', 'src', 'native', 'tun.js')}';
import { execFileSync } from 'node:child_process';
const tun = openTun('oitun0', { batchLimit: 16 });
execFileSync('ip', ['addr', 'add', '10.77.0.1/24', 'dev', tun.name]);
execFileSync('ip', ['link', 'set', tun.name, 'up']);
const sizes = [];
let singles = 0;
tun.onPackets((packets) => {
  sizes.push(packets.length);
  const replies = [];
  for (const p of packets) {
    const ihl = (p[0] & 15) * 4;
    if (p[0] >> 4 !== 4 || p[9] !== 1 || p[ihl] !== 8) continue;
    const r = Buffer.from(p);
    p.copy(r, 12, 16, 20); p.copy(r, 16, 12, 16);       // swap addresses (IP checksum unchanged)
    r[ihl] = 0;                                          // echo reply
    let c = r.readUInt16BE(ihl + 2) + 0x0800;            // RFC 1624 incremental checksum update
    r.writeUInt16BE((c & 0xffff) + (c >>> 16), ihl + 2);
    replies.push(r);
  }
  // Alternate the two write paths: one batch call, or one call per packet.
  if (sizes.length % 2 === 0) tun.writeBatch(replies);
  else for (const r of replies) { if (tun.write(r)) singles++; }
});
process.stdout.write(JSON.stringify({ ready: tun.name, fd: tun.fd }) + '\\n');
process.on('SIGTERM', () => {
  tun.close();
  tun.close(); // idempotent
  process.stdout.write(JSON.stringify({ batches: sizes.length, packets: sizes.reduce((a, b) => a + b, 0), max: Math.max(...sizes), singles }) + '\\n');
});
`;

test('TUN: open by name, batched reads, single and batch writes, close removes the device', async (t) => {
  const ns = lab.addNs('tun');
  const p = lab.spawn(ns, [process.execPath, '--input-type=module', '-e', RESPONDER]);
  let out = '';
  let err = '';
  p.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  p.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
  await waitFor(() => out.includes('"ready"'), `TUN responder (${err})`);
  const ready = JSON.parse(out.split('\n')[0]!) as { ready: string; fd: number };
  assert.equal(ready.ready, 'oitun0');
  assert.ok(ready.fd > 2);
  const link = lab.exec(ns, ['ip', '-d', 'link', 'show', 'oitun0']).stdout;
  assert.match(link, /tun type tun pi off/);

  const ping = lab.exec(ns, ['ping', '-f', '-c', '2000', '-l', '32', '-W', '1', '10.77.0.2'], { check: false, timeoutMs: 60_000 });
  const m = /(\d+) packets transmitted, (\d+) received/.exec(ping.stdout);
  assert.ok(m, ping.stdout + ping.stderr);
  assert.equal(m[1], '2000');
  assert.equal(m[2], '2000', 'every echo request answered through the TUN');

  const exited = new Promise((r) => p.on('exit', r));
  p.kill('SIGTERM');
  await waitFor(() => out.includes('"batches"'), 'responder summary');
  const s = JSON.parse(out.trim().split('\n').pop()!) as { batches: number; packets: number; max: number; singles: number };
  t.diagnostic(`${s.packets} packets in ${s.batches} reads, largest batch ${s.max}`);
  assert.ok(s.packets >= 2000);
  assert.ok(s.max > 1 && s.max <= 16, `largest batch ${s.max} (limit 16)`);
  assert.ok(s.batches < s.packets, `${s.packets} packets in ${s.batches} reads`);
  assert.ok(s.singles > 0, 'single writes were used too');
  await exited;
  assert.notEqual(lab.exec(ns, ['ip', 'link', 'show', 'oitun0'], { check: false }).code, 0, 'device gone after close');
});

test('TUN: a clear error for a name the kernel cannot take', async () => {
  const { openTun } = await import('../../src/native/tun.js');
  assert.throws(() => openTun('x'.repeat(16)), /longer than 15 bytes/);
});
