import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LibreswanLog } from '../../src/agent/libreswan-log.js';

test('libreswan log: lines in order, children renamed, lines of one turn and of later turns all written, 0600', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'oi-lslog-'));
  try {
    const file = path.join(dir, 'log', 'libreswan.log');
    const log = new LibreswanLog(file, () => Date.UTC(2026, 6, 29, 15, 2, 6, 832));
    const rename = (serial: number): string | undefined => (serial === 7 ? 'ovn-abc-0-in-1' : undefined);
    log.write('"ovn-abc-0" #3: IKE SA up', rename);
    log.write('"ovn-abc-0" #7: child installed', rename);
    await new Promise((r) => setImmediate(r));
    log.write('no connection named here', rename);
    await log.close();
    assert.equal(readFileSync(file, 'utf8'), [
      'Jul 29 15:02:06.832000: "ovn-abc-0" #3: IKE SA up',
      'Jul 29 15:02:06.832000: "ovn-abc-0-in-1" #7: child installed',
      'Jul 29 15:02:06.832000: no connection named here',
      '',
    ].join('\n'));
    assert.equal(statSync(file).mode & 0o777, 0o600);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
