// esp.usage(spi): what the data path knows of an SA's use (strongSwan's query_sa), asked by the
// control side when it needs it (DPD) instead of parsed out of status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADDR_A, lab, udpPacket } from './esp-datapath-helpers.js';

test('usage: traffic counts both ways and the time of the last authentic inbound packet; forgeries do not count', () => {
  const { clock, a, b, keys } = lab('tunnel');
  assert.equal(b.dp.usage(0xdead), undefined, 'no SA, no usage');
  const fresh = b.dp.usage(keys.spiAB)!;
  assert.deepEqual(fresh, { packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0, lastInboundAt: undefined });

  const packets = [100, 200, 300].map((n) => udpPacket('10.1.0.5', '10.2.0.9', 4000, 5000, n));
  a.dp.onTunPackets(packets);
  const t1 = clock.now;
  a.deliverTo(b);
  const total = packets.reduce((s, p) => s + p.length, 0);
  assert.deepEqual(b.dp.usage(keys.spiAB), { packetsIn: 3, bytesIn: total, packetsOut: 0, bytesOut: 0, lastInboundAt: t1 });
  assert.equal(a.dp.usage(keys.spiBA)!.packetsOut, 3);
  assert.equal(a.dp.usage(keys.spiBA)!.lastInboundAt, undefined, 'a has received nothing');

  // Later, a packet whose ICV fails: refused, and the SA's last use stays where it was.
  clock.now += 30_000;
  a.dp.onTunPackets([udpPacket('10.1.0.5', '10.2.0.9', 4000, 5000, 50)]);
  const forged = Buffer.from(a.sent.splice(0)[0]!.datagram);
  forged[forged.length - 1]! ^= 1;
  b.dp.onUdpEsp(forged, 0, forged.length, { address: ADDR_A, port: 4500 });
  assert.equal(b.dp.status().drops.auth_failed, 1);
  assert.equal(b.dp.usage(keys.spiAB)!.lastInboundAt, t1);

  // An authentic one moves it.
  clock.now += 1000;
  a.dp.onTunPackets([udpPacket('10.1.0.5', '10.2.0.9', 4000, 5000, 50)]);
  a.deliverTo(b);
  assert.equal(b.dp.usage(keys.spiAB)!.lastInboundAt, clock.now);
  assert.equal(b.dp.usage(keys.spiAB)!.packetsIn, 4);
});
