import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { loadIpsecdConfig } from '../../src/ipsecd/config.js';
import { MAX_CONFIG_BYTES, readConfigText } from '../../src/util/config-text.js';
import { ConfigError } from '../../src/util/errors.js';
import { cliPath } from '../helpers/paths.js';

// A file that is not a config at all — a binary, megabytes of noise, a README, the wrong YAML —
// gets one line (exit 2) from both readers of configs: `config validate` (and so `up` and the
// operator) and ipsecd. Never a line per YAML error.

function files(t: { after: (fn: () => void) => void }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'oi-not-yaml-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const put = (name: string, data: string | Buffer) => {
    writeFileSync(path.join(dir, name), data);
    return path.join(dir, name);
  };
  // Random bytes with their NULs replaced: not UTF-8, yet no NUL to give it away.
  const noNul = randomBytes(4096);
  for (let i = 0; i < noNul.length; i++) if (noNul[i] === 0) noNul[i] = 0xff;
  return {
    dir,
    random: put('random.bin', randomBytes(3_000_000)),
    binary: put('small.bin', Buffer.concat([Buffer.from('apiVersion: v1\n'), Buffer.from('é'.repeat(1000)), Buffer.from([0]), noNul])),
    latin1: put('latin1.bin', noNul),
    noise: put('noise.txt', randomBytes(60_000).toString('base64').replace(/(.{60})/g, '$1: [\n')),
    big: put('big.yaml', `# ${'x'.repeat(MAX_CONFIG_BYTES)}\nkind: Network\n`),
    longScalar: put('one-line.txt', 'z'.repeat(500_000)),
  };
}

/** The CLI's answer for `config validate FILE`: exit 2 and exactly one line. */
function validateLine(file: string): string {
  const r = spawnSync(process.execPath, [cliPath, 'config', 'validate', file], { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stdout, '');
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `one line for ${file}, got ${lines.length}: ${r.stderr.slice(0, 500)}`);
  return lines[0]!;
}

/** ipsecd's answer: one ConfigError line. */
function ipsecdLine(file: string): string {
  try {
    loadIpsecdConfig(file);
  } catch (e) {
    assert.ok(e instanceof ConfigError && e.exitCode === 2, String(e));
    assert.ok(!e.message.includes('\n'));
    return e.message;
  }
  assert.fail(`${file} loaded`);
}

test('binary and oversized files: "not a text file" or "too big", one line, from both readers', (t) => {
  const f = files(t);
  const wrong = '(is this the right file? a config is a YAML text file)';
  assert.equal(validateLine(f.random), `overlay-ipsec: ${f.random}: (top level): more than 1 MiB: too big for a config ${wrong}`);
  assert.equal(validateLine(f.binary), `overlay-ipsec: ${f.binary}: (top level): not a text file (a NUL byte at offset 2015) ${wrong}`);
  assert.equal(validateLine(f.latin1), `overlay-ipsec: ${f.latin1}: (top level): not a text file (not valid UTF-8) ${wrong}`);
  assert.equal(validateLine(f.big), `overlay-ipsec: ${f.big}: (top level): more than 1 MiB: too big for a config ${wrong}`);
  assert.equal(validateLine('/dev/zero'), `overlay-ipsec: /dev/zero: (top level): more than 1 MiB: too big for a config ${wrong}`);
  assert.equal(validateLine(f.dir), `overlay-ipsec: ${f.dir}: (top level): cannot read the config file: is a directory (check the path)`);
  assert.equal(ipsecdLine(f.random), `${f.random}: (top level): more than 1 MiB: too big for a config ${wrong}`);
  assert.equal(ipsecdLine(f.binary), `${f.binary}: (top level): not a text file (a NUL byte at offset 2015) ${wrong}`);
  assert.equal(ipsecdLine(f.latin1), `${f.latin1}: (top level): not a text file (not valid UTF-8) ${wrong}`);
  assert.equal(ipsecdLine(f.dir), `${f.dir}: (top level): cannot read the config file: is a directory (check the path given to --config)`);
  // Exactly at the cap is still read.
  const atCap = path.join(f.dir, 'at-cap.yaml');
  writeFileSync(atCap, `#${'y'.repeat(MAX_CONFIG_BYTES - 2)}\n`);
  assert.equal(readConfigText(atCap).length, MAX_CONFIG_BYTES);
});

test('text that is not YAML: the first error and how many follow, in one line', (t) => {
  const f = files(t);
  const line = validateLine(f.noise);
  assert.match(line, /^overlay-ipsec: .*noise\.txt: line \d+ column \d+: YAML syntax error: .+; (\d+) more YAML errors after it \(is this the right file\? fix the first error and check again\)$/);
  assert.ok(Number(/; (\d+) more/.exec(line)![1]) > 500, 'hundreds of errors counted, not printed');
  assert.match(ipsecdLine(f.noise), /noise\.txt: line \d+: YAML syntax: .+; \d+ more YAML errors after it \(is this the right file\? fix the first error and check again\)$/);
  // One long scalar is quoted short.
  assert.match(validateLine(f.longScalar), /got "z{60}…" \(500000 characters\)/);
  assert.match(ipsecdLine(f.longScalar), /got string "z{60}…" \(500000 characters\)$/);
});

test('a YAML file with many problems shows ten of them and counts the rest', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'oi-many-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'install-config.yaml');
  const clusterNetwork = Array.from({ length: 25 }, (_, i) => ({ cidr: `10.${i}.0.1/16`, hostPrefix: 23 }));
  writeFileSync(file, stringify({ apiVersion: 'v1', baseDomain: 'example.com', networking: { clusterNetwork } }));
  const r = spawnSync(process.execPath, [cliPath, 'config', 'validate', file], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 10, r.stderr);
  lines.forEach((l, i) => assert.ok(l.startsWith(`overlay-ipsec: ${file}: networking.clusterNetwork[${i}].cidr: "10.${i}.0.1/16" has host bits set`), l));
  assert.match(lines[9]!, /; 15 more errors not shown$/);
});
