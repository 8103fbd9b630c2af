import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr, parseIpv4 } from '../../src/wire/address.js';
import { tunnelName } from '../../src/overlay/tunnel-name.js';
import { vniForSubnet } from '../../src/overlay/vni.js';
import { PeerTable, PeerSpecError, type PeerSpec } from '../../src/overlay/peer-table.js';
import { macForIpv4 } from '../../src/overlay/mac.js';

const cidr = (s: string) => { const p = parseCidr(s); assert.ok(p.ok); return p.cidr; };
const ip = (s: string) => parseIpv4(s)!;

test("tunnel names follow OVN: ovn-<first 6 hex of the peer's system-id>-0", () => {
  // The seed's worker0 has system-id 2dc40cb7-845e-4326-9d1d-340f9961d76c; its peers name it so.
  assert.equal(tunnelName('2dc40cb7-845e-4326-9d1d-340f9961d76c'), 'ovn-2dc40c-0');
  assert.equal(tunnelName('AB2A7CFF-0000-4000-8000-000000000000'), 'ovn-ab2a7c-0');
  assert.throws(() => tunnelName('xyz'), /6 hex digits/);
  assert.ok(tunnelName('ab2a7c').length <= 15, 'fits a Linux interface name');
});

test('VNI: subnet index in the cluster network plus one', () => {
  const net = cidr('10.254.0.0/16');
  assert.equal(vniForSubnet(net, cidr('10.254.0.0/24')), 1);
  assert.equal(vniForSubnet(net, cidr('10.254.3.0/24')), 4);
  assert.equal(vniForSubnet(net, cidr('10.254.255.0/24')), 256);
  assert.throws(() => vniForSubnet(net, cidr('10.253.0.0/24')), /outside/);
});

test('node MACs: locally administered unicast 0a:58 + the gateway address', () => {
  const m = macForIpv4(ip('10.254.3.1'));
  assert.equal(m.toString('hex'), '0a580afe0301');
  assert.equal(m[0]! & 0x01, 0, 'unicast');
  assert.equal(m[0]! & 0x02, 0x02, 'locally administered');
});

const peer = (node: string, id: string, underlay: string, subnet: string, vni: number): PeerSpec => ({ node, systemId: id, underlay, subnet, vni });

test('peer table: lookups by destination (longest prefix) and by underlay address', () => {
  const t = new PeerTable(cidr('10.254.0.0/24'), ip('192.168.7.21'));
  t.replace([
    peer('master1', '91fa7200', '192.168.7.22', '10.254.1.0/24', 2),
    peer('big', 'aaaaaa00', '192.168.7.30', '10.200.0.0/16', 9),
    peer('small', 'bbbbbb00', '192.168.7.31', '10.254.128.0/25', 10),
  ]);
  assert.equal(t.lookupDestination(ip('10.254.1.77'))?.spec.node, 'master1');
  assert.equal(t.lookupDestination(ip('10.200.9.1'))?.spec.node, 'big');
  assert.equal(t.lookupDestination(ip('10.254.128.5'))?.spec.node, 'small');
  assert.equal(t.lookupDestination(ip('10.254.128.200')), undefined);
  assert.equal(t.lookupDestination(ip('10.254.0.5')), undefined, 'our own subnet is not a peer');
  assert.equal(t.lookupUnderlay(ip('192.168.7.22'))?.tunnel, 'ovn-91fa72-0');
  assert.equal(t.lookupUnderlay(ip('192.168.7.99')), undefined);
  assert.equal(t.byTunnelName('ovn-aaaaaa-0')?.spec.node, 'big');
});

test('peer table: counters of tunnels that stay survive an update; removed peers disappear', () => {
  const t = new PeerTable(cidr('10.254.0.0/24'), ip('192.168.7.21'));
  t.replace([peer('m1', '91fa7200', '192.168.7.22', '10.254.1.0/24', 2), peer('w0', '04e0df00', '192.168.7.11', '10.254.3.0/24', 4)]);
  t.byTunnelName('ovn-91fa72-0')!.counters.packetsOut = 42;
  // m1 moves to a new underlay address (same system-id): same tunnel, same counters.
  t.replace([peer('m1', '91fa7200', '192.168.7.42', '10.254.1.0/24', 2)]);
  assert.equal(t.size, 1);
  assert.equal(t.byTunnelName('ovn-91fa72-0')!.counters.packetsOut, 42);
  assert.equal(t.lookupUnderlay(ip('192.168.7.22')), undefined);
  assert.equal(t.lookupDestination(ip('10.254.3.3')), undefined);
});

test('peer table: clashing or invalid peers are refused and the table is unchanged', () => {
  const t = new PeerTable(cidr('10.254.0.0/24'), ip('192.168.7.21'));
  const good = peer('m1', '91fa7200', '192.168.7.22', '10.254.1.0/24', 2);
  t.replace([good]);
  const bad: Array<[PeerSpec[], RegExp]> = [
    [[good, peer('m2', '91fa7211', '192.168.7.23', '10.254.2.0/24', 3)], /tunnel name ovn-91fa72-0 is also m1's/],
    [[good, peer('m2', 'cccccc00', '192.168.7.22', '10.254.2.0/24', 3)], /also m1's/],
    [[good, peer('m2', 'cccccc00', '192.168.7.23', '10.254.1.128/25', 3)], /overlaps/],
    [[peer('m2', 'cccccc00', '192.168.7.21', '10.254.2.0/24', 3)], /our own address/],
    [[peer('m2', 'cccccc00', '192.168.7.23', '10.254.0.0/23', 3)], /overlaps our subnet/],
    [[peer('m2', 'cccccc00', '192.168.7.300', '10.254.2.0/24', 3)], /not an IPv4 address/],
    [[peer('m2', 'cccccc00', '192.168.7.23', '10.254.2.1/24', 3)], /host bits/],
    [[peer('m2', 'cccccc00', '192.168.7.23', '10.254.2.0/24', 0)], /vni 0/],
    [[peer('m2', 'nothex', '192.168.7.23', '10.254.2.0/24', 3)], /6 hex digits/],
  ];
  for (const [specs, re] of bad) {
    assert.throws(() => t.replace(specs), (e: unknown) => e instanceof PeerSpecError && re.test(e.message), re.source);
    assert.equal(t.size, 1);
    assert.equal(t.lookupDestination(ip('10.254.1.1'))?.spec.node, 'm1');
  }
});

test('ofport: smallest free number from 1, kept while the tunnel exists', () => {
  const t = new PeerTable(cidr('10.254.0.0/24'), ip('192.168.7.21'));
  const m1 = peer('m1', '91fa7200', '192.168.7.22', '10.254.1.0/24', 2);
  const m2 = peer('m2', 'cccccc00', '192.168.7.23', '10.254.2.0/24', 3);
  const w0 = peer('w0', '04e0df00', '192.168.7.11', '10.254.3.0/24', 4);
  t.replace([m1, m2, w0]);
  const port = (n: string) => t.list().find((p) => p.spec.node === n)!.ofport;
  assert.deepEqual([port('m1'), port('m2'), port('w0')], [1, 2, 3]);
  t.replace([w0, m2]);
  assert.deepEqual([port('m2'), port('w0')], [2, 3]);
  t.replace([w0, peer('w1', 'dddddd00', '192.168.7.12', '10.254.4.0/24', 5), m2]);
  assert.deepEqual([port('m2'), port('w0'), port('w1')], [2, 3, 1]);
  assert.equal(t.lookupUnderlay(ip('192.168.7.12'))!.ofport, 1, 'every index sees the numbered peer');
  assert.equal(t.lookupDestination(ip('10.254.4.9'))!.ofport, 1);
});

test('peer table: a 4000-node mesh loads quickly and every lookup finds its node', () => {
  const t = new PeerTable(cidr('10.0.0.0/24'), ip('172.31.255.254'));
  const specs: PeerSpec[] = [];
  for (let i = 1; i <= 4000; i++) {
    specs.push(peer(`n${i}`, (0x100000 + i).toString(16), `172.16.${i >> 8}.${i & 255}`, `10.${i >> 8}.${i & 255}.0/24`, i + 1));
  }
  const t0 = performance.now();
  t.replace(specs);
  const ms = performance.now() - t0;
  assert.equal(t.size, 4000);
  assert.ok(ms < 2000, `replace took ${ms.toFixed(0)} ms`);
  for (const i of [1, 255, 256, 3999, 4000]) assert.equal(t.lookupDestination(ip(`10.${i >> 8}.${i & 255}.77`))?.spec.node, `n${i}`);
  // One overlapping block among thousands is still found.
  assert.throws(() => t.replace([...specs, peer('dup', 'eeeeee00', '172.30.0.1', '10.3.0.0/16', 9999)]), /overlaps/);
});
