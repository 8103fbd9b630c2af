import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadIpsecdConfig } from '../../src/ipsecd/config.js';
import { ConfigError } from '../../src/util/errors.js';
import { TestPki } from '../helpers/certs.js';

const pki = new TestPki('oit-ikecfg');
after(() => pki.cleanup());
const ca = pki.createCa('ca', { dn: 'C=XX, O=Lab, CN=Lab CA', keyType: 'ecdsa' });
const a = pki.issue(ca, 'a', { dn: 'C=XX, O=Lab, CN=a.lab', sans: ['a.lab'], keyType: 'ecdsa' });
const dir = path.dirname(a.certPath);

function conn(over: Record<string, string> = {}, child: Record<string, string> = {}): string {
  const v: Record<string, string> = {
    local_addrs: '[198.18.0.1]', remote_addrs: '[198.18.0.2]',
    local: `{ auth: pubkey, cert: ${path.basename(a.certPath)}, key: ${path.basename(a.keyPath)}, id: a.lab }`,
    remote: '{ auth: pubkey, id: b.lab }', ca: `[${path.basename(ca.certPath)}]`,
    proposals: '[aes256gcm16-prfsha256-modp2048, aes256gcm16-prfsha256-x25519]', dpd_delay: '10s', rekey_time: '4h', ...over,
  };
  const c: Record<string, string> = {
    mode: 'tunnel', local_ts: '[10.254.1.0/24]', remote_ts: '[10.254.2.0/24]', esp_proposals: '[aes256gcm16, aes256gcm16-modp2048]',
    start_action: 'start', rekey_time: '1h', ...child,
  };
  return `connections:
  site:
${Object.entries(v).filter(([, x]) => x !== '').map(([k, x]) => `    ${k}: ${x}`).join('\n')}
    children:
      pods:
${Object.entries(c).filter(([, x]) => x !== '').map(([k, x]) => `        ${k}: ${x}`).join('\n')}
`;
}

let n = 0;
/** Writes the config next to the certificates (paths are relative to it) and loads it. */
function load(text: string): ReturnType<typeof loadIpsecdConfig> {
  const file = path.join(dir, `c${++n}.yaml`);
  writeFileSync(file, text);
  return loadIpsecdConfig(file);
}

function problem(text: string): string {
  try {
    load(text);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.equal(e.exitCode, 2);
    return e.message.replace(/^.*?c\d+\.yaml: /, '');
  }
  assert.fail('expected the config to be refused');
}

test('the CONTRACTS.md IKE connection loads into engine, auth and route settings', () => {
  const cfg = load(conn());
  assert.equal(cfg.connections.length, 0);
  const c = cfg.ike[0]!;
  assert.equal(c.name, 'site');
  assert.deepEqual(c.engine.proposals, ['aes256gcm16-prfsha256-modp2048', 'aes256gcm16-prfsha256-x25519']);
  assert.equal(c.engine.dpdDelayMs, 10_000);
  assert.equal(c.engine.rekeyTimeMs, 4 * 3600_000);
  assert.equal(c.engine.children[0]!.rekeyTimeMs, 3600_000);
  assert.deepEqual(c.engine.children[0]!.espProposals, ['aes256gcm16', 'aes256gcm16-modp2048']);
  assert.match(c.auth.local.certPem!, /BEGIN CERTIFICATE/);
  assert.equal(c.children[0]!.name, 'site/pods');
  assert.equal(c.children[0]!.remoteTs[0]!.startAddr, (10 << 24 | 254 << 16 | 2 << 8) >>> 0);
  assert.equal(c.startAtBoot, true);
  assert.equal(c.trap, false);
});

test('start_action trap and none do not initiate at start', () => {
  assert.equal(load(conn({}, { start_action: 'trap' })).ike[0]!.trap, true);
  const none = load(conn({}, { start_action: 'none' })).ike[0]!;
  assert.equal(none.startAtBoot, false);
  assert.equal(none.trap, false);
});

test('bad IKE settings name the key and the fix', () => {
  assert.match(problem(conn({ proposals: '[aes256gcm16-prfsha256-modp1234]' })), /^connections\.site\.proposals\.0: .*modp1234.*\(swanctl syntax/);
  assert.match(problem(conn({}, { esp_proposals: '[aes256gcm16, des]' })), /^connections\.site\.children\.pods\.esp_proposals\.1: /);
  assert.match(problem(conn({ local: '{ auth: pubkey, cert: missing.pem, key: a.key, id: a.lab }' })), /^connections\.site\.local\.cert: cannot read .*missing\.pem: no such file \(paths are relative to the config file\)/);
  assert.match(problem(conn({ local: `{ auth: pubkey, cert: ${path.basename(a.certPath)}, id: a.lab }` })), /^connections\.site\.local\.key: pubkey authentication needs our private key/);
  assert.match(problem(conn({ local: `{ auth: pubkey, cert: ${path.basename(a.certPath)}, key: ${path.basename(a.keyPath)}, id: other.lab }` })), /^connections\.site\.local\.id: certificate .* does not name "other\.lab"/);
  assert.match(problem(conn({ ca: '' })), /^connections\.site\.ca: pubkey authentication of the peer needs at least one trusted CA/);
  assert.match(problem(conn({ dpd_delay: '10 seconds' })), /^connections\.site\.dpd_delay: /);
  assert.match(problem(conn({ remote: '{ auth: pubkey, id: b.lab, cert: b.pem }' })), /^connections\.site\.remote\.cert: /);
  assert.match(problem(conn({ local: '{ auth: psk, id: a.lab }', remote: '{ auth: psk, id: b.lab }', ca: '', psk: '"0s%%%"' })), /^connections\.site\.psk: invalid base64/);
  assert.match(problem(conn({}, { mode: 'transport', local_ts: '[10.254.1.0/24]' })), /^connections\.site\.children\.pods\.local_ts\.0: transport mode selectors/);
});

test('PSK connections load with a swanctl 0s secret', () => {
  const c = load(conn({ local: '{ auth: psk, id: a.lab }', remote: '{ auth: psk, id: b.lab }', ca: '', psk: '"0sc2VjcmV0LXNlY3JldC1zZWNyZXQ="' })).ike[0]!;
  assert.equal(c.auth.psk!.toString(), 'secret-secret-secret');
});
