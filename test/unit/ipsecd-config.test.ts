import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadIpsecdConfig, parseIpsecdConfig, resolveConfigPath } from '../../src/ipsecd/config.js';
import { ConfigError } from '../../src/util/errors.js';

const KEY36 = `"0x${'ab'.repeat(36)}"`;
const KEY36B = `"0x${'cd'.repeat(36)}"`;

function site(over: Record<string, string> = {}, extra = ''): string {
  const v = {
    mode: 'tunnel', local_ts: '[10.254.1.0/24]', remote_ts: '[10.254.2.0/24]',
    spi_out: '0x00001001', spi_in: '0x00002002', key_out: KEY36, key_in: KEY36B, ...over,
  };
  return `connections:
  site:
    local_addrs: [198.18.0.1]
    remote_addrs: [198.18.0.2]
    manual:
${Object.entries(v).map(([k, x]) => `      ${k}: ${x}`).join('\n')}
${extra}tun: { name: oi0 }
`;
}

/** The one line a user sees, or null when the config loads. */
function problem(text: string): string | null {
  try {
    parseIpsecdConfig(text, 'site.yaml');
    return null;
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.equal(e.exitCode, 2);
    assert.ok(!e.message.includes('\n'), 'one line');
    return e.message;
  }
}

test('the CONTRACTS.md manual connection loads, with keys, SPIs and selectors parsed', () => {
  const cfg = parseIpsecdConfig(site(), 'site.yaml');
  assert.equal(cfg.connections.length, 1);
  const c = cfg.connections[0]!;
  assert.equal(c.name, 'site');
  assert.equal(c.mode, 'tunnel');
  assert.equal(c.spiOut, 0x1001);
  assert.equal(c.spiIn, 0x2002);
  assert.equal(c.keyOut.length, 36);
  assert.equal(c.keyOut.toString('hex'), 'ab'.repeat(36));
  assert.equal(c.proposal, 'aes256gcm16');
  assert.equal(c.remotePort, 4500);
  assert.equal(c.replayWindow, 1024);
  assert.deepEqual(c.localTs, [{ protocol: 0, startAddr: 0x0afe0100, endAddr: 0x0afe01ff, startPort: 0, endPort: 65535 }]);
  assert.deepEqual(cfg.tun, { name: 'oi0', mtu: 1400, table: 2200, rulePriority: 2200 });
});

test('swanctl selector forms: dynamic, CIDR[udp/port], dynamic[udp], host, port range', () => {
  const cfg = parseIpsecdConfig(site({
    mode: 'transport',
    local_ts: '["dynamic[udp/6081]", "dynamic[udp]"]',
    remote_ts: '["198.18.0.2[udp/6081]", "198.18.0.0/24[17/1000-2000]"]',
  }), 'site.yaml');
  const c = cfg.connections[0]!;
  assert.deepEqual(c.localTs, [
    { protocol: 17, startAddr: 0xc6120001, endAddr: 0xc6120001, startPort: 6081, endPort: 6081 },
    { protocol: 17, startAddr: 0xc6120001, endAddr: 0xc6120001, startPort: 0, endPort: 65535 },
  ]);
  assert.deepEqual(c.remoteTs[1], { protocol: 17, startAddr: 0xc6120000, endAddr: 0xc61200ff, startPort: 1000, endPort: 2000 });
  assert.deepEqual(c.localTsText, ['dynamic[udp/6081]', 'dynamic[udp]']);
});

test('AES-128-GCM keys (20 bytes) select aes128gcm16', () => {
  const k20 = `"0x${'11'.repeat(20)}"`;
  assert.equal(parseIpsecdConfig(site({ key_out: k20, key_in: k20 }), 'x.yaml').connections[0]!.proposal, 'aes128gcm16');
});

test('unknown key: names file, full key path and the fix', () => {
  assert.equal(problem(site({ replay_windw: '64' })),
    'site.yaml: connections.site.manual.replay_windw: unknown key (remove it or check its spelling against CONTRACTS.md)');
  assert.match(problem(site() + 'extra: 1\n')!, /^site\.yaml: extra: unknown key/);
});

test('bad hex key length: says how many bytes were expected and found', () => {
  assert.match(problem(site({ key_out: `"0x${'ab'.repeat(35)}"` }))!,
    /^site\.yaml: connections\.site\.manual\.key_out: expected 36 bytes \(AES-256 key ‖ 4-byte salt\), got 35 \(/);
  assert.match(problem(site({ key_in: `"0x${'ab'.repeat(16)}"` }))!, /key_in: expected 20 bytes .* or 36 bytes .*, got 16/);
  assert.match(problem(site({ key_in: `"0x${'11'.repeat(20)}"` }))!, /key_in: key_in has 20 bytes but key_out has 36/);
  assert.match(problem(site({ key_out: '"0xzz"' }))!, /key_out: expected hex digits/);
  assert.match(problem(site({ key_out: '0x1234' }))!, /key_out: expected a quoted hex string/);
});

test('bad CIDR and bad selectors', () => {
  assert.match(problem(site({ remote_ts: '[10.254.2.0/33]' }))!, /^site\.yaml: connections\.site\.manual\.remote_ts\.0: prefix \/33 in "10\.254\.2\.0\/33" is longer than 32/);
  assert.match(problem(site({ remote_ts: '[10.254.2.1/24]' }))!, /remote_ts\.0: "10\.254\.2\.1\/24" has host bits set \(the network is 10\.254\.2\.0\/24\)/);
  assert.match(problem(site({ local_ts: '[300.1.1.0/24]' }))!, /local_ts\.0: .* is not an IPv4 address/);
  assert.match(problem(site({ local_ts: '["10.0.0.0/8[udp/70000]"]' }))!, /bad port "70000"/);
  assert.match(problem(site({ local_ts: '["10.0.0.0/8[icmp/5]"]' }))!, /ports need a protocol/);
  assert.match(problem(site({ local_ts: '["10.0.0.0/8[foo]"]' }))!, /unknown protocol "foo"/);
  assert.match(problem(site({ local_ts: '[]' }))!, /local_ts: expected at least one traffic selector/);
  // Unquoted [proto/port] inside a flow list is YAML syntax: the message says to quote it.
  assert.match(problem(site({ local_ts: '[10.0.0.0/8[udp/6081]]' }))!, /^site\.yaml: line \d+: YAML syntax: .*quote selectors/);
});

test('SPIs, modes, addresses and structure', () => {
  assert.match(problem(site({ spi_in: '5' }))!, /spi_in: expected an SPI between 0x00000100 and 0xffffffff, got 5/);
  assert.match(problem(site({ spi_in: '"0x1FFFFFFFF"' }))!, /spi_in: expected an SPI/);
  assert.match(problem(site({ mode: 'tunel' }))!, /manual\.mode: expected one of tunnel, transport, got string "tunel"/);
  assert.match(problem(site().replace('[198.18.0.2]', '[198.18.0]'))!, /remote_addrs\.0: expected an IPv4 address/);
  assert.match(problem(site().replace('    local_addrs: [198.18.0.1]\n', ''))!, /connections\.site\.local_addrs: required key is missing/);
  assert.match(problem(site({ mode: 'transport' }))!, /local_ts\.0: transport mode selectors must contain the local address 198\.18\.0\.1/);
  assert.match(problem('tun: { name: oi0 }\n')!, /^site\.yaml: connections: required key is missing/);
  assert.match(problem('')!, /the file is empty/);
  assert.match(problem(site().replace('tun: { name: oi0 }', 'tun: { name: this-name-is-far-too-long }'))!, /tun\.name: expected an interface name/);
});

test('an IKE connection with PSK but no local id names the key (IKE connections: test/unit/ipsecd-ike-config.test.ts)', () => {
  const ike = `connections:
  site:
    local_addrs: [198.18.0.1]
    remote_addrs: [198.18.0.2]
    local: { auth: psk }
    remote: { auth: psk }
    psk: "0sAAAA"
    children:
      pods: { mode: tunnel, local_ts: [10.254.1.0/24], remote_ts: [10.254.2.0/24] }
`;
  assert.match(problem(ike)!, /^site\.yaml: connections\.site\.local\.id: PSK authentication needs an explicit local id/);
});

test('a duplicate inbound SPI across connections is refused', () => {
  const two = site().replace('tun:', `  other:
    local_addrs: [198.18.0.1]
    remote_addrs: [198.18.0.3]
    manual: { mode: tunnel, local_ts: [10.254.1.0/24], remote_ts: [10.254.3.0/24], spi_out: 0x3003, spi_in: 0x00002002, key_out: ${KEY36}, key_in: ${KEY36B} }
tun:`);
  assert.match(problem(two)!, /connections\.other\.manual\.spi_in: SPI 0x00002002 is already used by connection site/);
});

test('missing file: names it and says so; paths inside resolve next to the file', () => {
  assert.throws(() => loadIpsecdConfig('/nonexistent/site.yaml'), (e: unknown) =>
    e instanceof ConfigError && e.message === '/nonexistent/site.yaml: (top level): cannot read the config file: no such file (check the path given to --config)');
  const dir = mkdtempSync(path.join(tmpdir(), 'oit-cfg-'));
  const f = path.join(dir, 'site.yaml');
  writeFileSync(f, site());
  try {
    const cfg = loadIpsecdConfig(f);
    assert.equal(resolveConfigPath(cfg, 'a.pem'), path.join(dir, 'a.pem'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the example configs in examples/ipsecd load', async () => {
  const { readdirSync } = await import('node:fs');
  const { repoRoot } = await import('../helpers/paths.js');
  const dir = path.join(repoRoot, 'examples', 'ipsecd');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 3);
  for (const f of files) {
    const cfg = loadIpsecdConfig(path.join(dir, f));
    assert.ok(cfg.connections.length + cfg.ike.length >= 1, f);
  }
});

test('YAML aliases to missing anchors and alias bombs: a ConfigError naming the file (exit 2), not a crash (found by fuzzing)', () => {
  assert.match(problem('connections: *nowhere\n')!, /^site\.yaml: \(top level\): YAML error: .*alias/i);
  const layers = ['a: &a [x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 9; i++) layers.push(`${'abcdefghij'[i]}: &${'abcdefghij'[i]} [${Array(9).fill(`*${'abcdefghij'[i - 1]}`).join(', ')}]`);
  assert.match(problem(`${layers.join('\n')}\nconnections: {}\n`)!, /^site\.yaml: \(top level\): YAML error: /);
});
