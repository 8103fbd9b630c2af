import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIpsecdConfig, DEFAULT_TUN } from '../../src/ipsecd/config.js';
import { planRoutes, findLocalSources } from '../../src/ipsecd/routes.js';

const key = `"0x${'ab'.repeat(36)}"`;
const conn = (name: string, mode: string, l: string, r: string, spiIn: number): string => `  ${name}:
    local_addrs: [198.18.0.1]
    remote_addrs: [198.18.0.2]
    manual: { mode: ${mode}, local_ts: ${l}, remote_ts: ${r}, spi_out: ${spiIn + 1}, spi_in: ${spiIn}, key_out: ${key}, key_in: ${key} }
`;

test('tunnel mode: a route per remote subnet with a local source, one rule per subnet, guards for UDP 500/4500', () => {
  const cfg = parseIpsecdConfig(`connections:\n${conn('site', 'tunnel', '[10.1.0.0/24]', '[10.2.0.0/24, 10.3.0.0/16]', 0x2002)}`, 't.yaml');
  const plan = planRoutes(cfg.connections, DEFAULT_TUN, new Map([['site', '10.1.0.1']]));
  assert.deepEqual(plan.routes, [
    ['10.2.0.0/24', 'dev', 'oi0', 'table', '2200', 'src', '10.1.0.1'],
    ['10.3.0.0/16', 'dev', 'oi0', 'table', '2200', 'src', '10.1.0.1'],
  ]);
  assert.deepEqual(plan.rules, [
    ['pref', '2200', 'to', '198.18.0.2/32', 'ipproto', 'udp', 'sport', '4500', 'lookup', 'main'],
    ['pref', '2200', 'to', '198.18.0.2/32', 'ipproto', 'udp', 'sport', '500', 'lookup', 'main'],
    ['pref', '2201', 'to', '10.2.0.0/24', 'lookup', '2200'],
    ['pref', '2201', 'to', '10.3.0.0/16', 'lookup', '2200'],
  ]);
});

test('transport mode: only the selected UDP flow goes to the TUN (seed-style -out and -in connections)', () => {
  const cfg = parseIpsecdConfig(`connections:\n${conn('out', 'transport', '["dynamic[udp]"]', '["dynamic[udp/6081]"]', 0x3002)}${conn('in', 'transport', '["dynamic[udp/6081]"]', '["dynamic[udp]"]', 0x4002)}`, 't.yaml');
  const plan = planRoutes(cfg.connections, DEFAULT_TUN, new Map());
  assert.deepEqual(plan.routes, [['198.18.0.2/32', 'dev', 'oi0', 'table', '2200', 'src', '198.18.0.1']]);
  assert.deepEqual(plan.rules.filter((r) => r.includes('2201')), [
    ['pref', '2201', 'to', '198.18.0.2/32', 'ipproto', '17', 'dport', '6081', 'lookup', '2200'],
    ['pref', '2201', 'to', '198.18.0.2/32', 'ipproto', '17', 'sport', '6081', 'lookup', '2200'],
  ]);
});

test('the route source is a local address inside local_ts', () => {
  const cfg = parseIpsecdConfig(`connections:\n${conn('site', 'tunnel', '[10.1.0.0/24]', '[10.2.0.0/24]', 0x2002)}`, 't.yaml');
  assert.deepEqual([...findLocalSources(cfg.connections, ['127.0.0.1', '198.18.0.1', '10.1.0.7'])], [['site', '10.1.0.7']]);
  assert.equal(findLocalSources(cfg.connections, ['127.0.0.1']).size, 0);
});
