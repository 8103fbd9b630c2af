// The draft-mcgrew-gcm-test-01 ESP known answers (test/unit/esp-kat.test.ts) go through the SAs,
// which build EspGcm with the default choice — the native addon. This file runs that same suite
// once more with the node:crypto path forced (OVERLAY_IPSEC_AEAD=node), so both implementations
// pass the ESP packets. (crypto-gcm-kat.test.ts runs its vectors against both in-process.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EspGcm } from '../../src/crypto/aes-gcm.js';

const espKat = path.join(path.dirname(fileURLToPath(import.meta.url)), 'esp-kat.test.js');

test('ESP known answers in this process use the native AES-GCM', () => {
  assert.equal(new EspGcm(Buffer.alloc(20)).implementation, 'native');
});

test('ESP known answers pass with the node:crypto AES-GCM forced', () => {
  // A child of the test runner would report to it in its own protocol; ask for plain TAP.
  const env: NodeJS.ProcessEnv = { ...process.env, OVERLAY_IPSEC_AEAD: 'node' };
  delete env['NODE_TEST_CONTEXT'];
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', espKat], {
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  const pass = /^# pass (\d+)$/m.exec(r.stdout);
  const fail = /^# fail (\d+)$/m.exec(r.stdout);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.ok(pass && Number(pass[1]) >= 13, `expected the 13 draft-mcgrew cases and more, got: ${pass?.[1]}`);
  assert.equal(fail?.[1], '0');
});
