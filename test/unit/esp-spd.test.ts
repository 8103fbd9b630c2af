// SPD: first match, protect vs drop, ports and protocols, fragments (the selectors themselves:
// wire-traffic-selector.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Spd, policyCoversInbound } from '../../src/esp/spd.js';
import { anySelector, cidrSelector } from '../../src/wire/traffic-selector.js';
import { newFlow, readIpv4Flow, type Flow } from '../../src/esp/flow.js';
import { newIpv4Header, writeIpv4Header } from '../../src/wire/ipv4.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { buildIpv4UdpPacket } from '../../src/wire/udp.js';

function flow(src: string, dst: string, protocol: number, srcPort = -1, dstPort = -1): Flow {
  return { src: parseIpv4(src)!, dst: parseIpv4(dst)!, protocol, srcPort, dstPort };
}

test('first match wins; drop policies drop; nothing matches → null', () => {
  const spd = new Spd();
  spd.set({ name: 'block-db', action: 'drop', localTs: [cidrSelector('10.1.0.0/24')], remoteTs: [cidrSelector('10.2.0.5/32', 6, 5432)] });
  spd.set({ name: 'pods', action: 'protect', localTs: [cidrSelector('10.1.0.0/24')], remoteTs: [cidrSelector('10.2.0.0/16')] });
  spd.set({ name: 'wide', action: 'protect', localTs: [anySelector()], remoteTs: [anySelector()] });
  assert.equal(spd.lookupOutbound(flow('10.1.0.1', '10.2.0.5', 6, 999, 5432))?.name, 'block-db');
  assert.equal(spd.lookupOutbound(flow('10.1.0.1', '10.2.0.5', 6, 999, 80))?.name, 'pods');
  assert.equal(spd.lookupOutbound(flow('10.1.0.1', '10.2.0.5', 17, 999, 5432))?.name, 'pods');
  assert.equal(spd.lookupOutbound(flow('10.7.0.1', '10.2.0.5', 17, 1, 2))?.name, 'wide');
  spd.remove('wide');
  assert.equal(spd.lookupOutbound(flow('10.7.0.1', '10.2.0.5', 17, 1, 2)), null);
  // replacing a policy keeps its place in the order
  spd.set({ name: 'block-db', action: 'drop', localTs: [cidrSelector('10.1.0.0/24')], remoteTs: [cidrSelector('10.2.0.0/16')] });
  assert.equal(spd.lookupOutbound(flow('10.1.0.1', '10.2.0.5', 6, 999, 80))?.action, 'drop');
  assert.deepEqual(spd.list().map((p) => p.name), ['block-db', 'pods']);
});

test('inbound check reverses the sides: source in remote_ts, destination in local_ts', () => {
  const p = { name: 'g', action: 'protect' as const, localTs: [cidrSelector('198.18.0.1/32', 17)], remoteTs: [cidrSelector('198.18.0.2/32', 17, 6081)] };
  assert.ok(policyCoversInbound(p, flow('198.18.0.2', '198.18.0.1', 17, 6081, 40000)));
  assert.ok(!policyCoversInbound(p, flow('198.18.0.2', '198.18.0.1', 17, 6082, 40000)));
  assert.ok(!policyCoversInbound(p, flow('198.18.0.1', '198.18.0.2', 17, 6081, 6081)));
  assert.ok(!policyCoversInbound(p, flow('198.18.0.2', '198.18.0.1', 6, 6081, 40000)));
});

test('flows read from IPv4 packets: ports from the first fragment only, bad packets refused', () => {
  const h = newIpv4Header();
  const f = newFlow();
  const udp = buildIpv4UdpPacket({ src: parseIpv4('10.0.0.1')!, dst: parseIpv4('10.0.0.2')!, srcPort: 1111, dstPort: 2222 }, Buffer.alloc(30));
  assert.ok(readIpv4Flow(udp, 0, udp.length, f, h));
  assert.deepEqual(f, flow('10.0.0.1', '10.0.0.2', 17, 1111, 2222));
  const later = Buffer.from(udp);
  writeIpv4Header(later, 0, { src: parseIpv4('10.0.0.1')!, dst: parseIpv4('10.0.0.2')!, protocol: 17, payloadLength: udp.length - 20, fragmentOffset: 8 });
  assert.ok(readIpv4Flow(later, 0, later.length, f, h));
  assert.equal(f.srcPort, -1);
  assert.ok(!readIpv4Flow(udp, 0, 19, f, h));
  assert.ok(!readIpv4Flow(udp.subarray(0, 40), 0, 40, f, h), 'total length beyond the buffer');
  assert.ok(!readIpv4Flow(Buffer.from('60000000000000000000000000000000000000000000', 'hex'), 0, 22, f, h));
});

test('many per-peer policies: the lookup index gives the same answers as first match, and forgets on change', () => {
  const spd = new Spd();
  const peer = (i: number) => `198.19.${i >> 8}.${i & 255}`;
  for (let i = 0; i < 1000; i++) {
    spd.set({ name: `c${i}`, action: 'protect', localTs: [cidrSelector('198.18.0.1/32', 17)], remoteTs: [cidrSelector(`${peer(i)}/32`, 17)] });
  }
  spd.set({ name: 'catch-all', action: 'drop', localTs: [anySelector()], remoteTs: [anySelector()] });
  for (let round = 0; round < 2; round++) {
    for (const i of [0, 1, 500, 999]) assert.equal(spd.lookupOutbound(flow('198.18.0.1', peer(i), 17, 1, 6081))?.name, `c${i}`);
    assert.equal(spd.lookupOutbound(flow('198.18.0.1', peer(5), 6, 1, 80))?.name, 'catch-all');
    assert.equal(spd.lookupOutbound(flow('198.18.0.1', '198.20.0.1', 17, 1, 6081))?.name, 'catch-all');
  }
  spd.remove('c500');
  assert.equal(spd.lookupOutbound(flow('198.18.0.1', peer(500), 17, 1, 6081))?.name, 'catch-all');
  spd.set({ name: 'c500', action: 'protect', localTs: [cidrSelector('198.18.0.1/32', 17)], remoteTs: [cidrSelector(`${peer(500)}/32`, 17)] });
  // re-added at the end: the catch-all now comes first
  assert.equal(spd.lookupOutbound(flow('198.18.0.1', peer(500), 17, 1, 6081))?.name, 'catch-all');
  spd.remove('catch-all');
  assert.equal(spd.lookupOutbound(flow('198.18.0.1', peer(500), 17, 1, 6081))?.name, 'c500');
  assert.equal(spd.lookupOutbound(flow('198.18.0.1', '198.20.0.1', 17, 1, 6081)), null);
});
