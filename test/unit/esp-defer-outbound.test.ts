import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lab, newKeys, specs, udpPacket } from './esp-datapath-helpers.js';

// The answering side of a rekey (or of a make-before-break re-authentication) installs the new
// pair before the peer has the response that installs it there. Its outbound must stay on the old
// pair until the peer shows it has the new one; otherwise the first packets on the new SPI arrive
// at a peer that does not know it yet and are dropped as unknown_spi (seen as 7 lost datagrams
// under a 1500 pps stream across a certificate rotation, before this fix).

test('a deferred pair takes outbound only after the peer sent on it', () => {
  const { a, b } = lab('tunnel', {}, newKeys(0x1001, 0x2002));
  const toA = udpPacket('10.2.0.7', '10.1.0.5', 1, 2, 10);
  const toB = udpPacket('10.1.0.5', '10.2.0.7', 1, 2, 10);
  const s2 = specs('tunnel', newKeys(0x3003, 0x4004));
  // b answers: it installs first, deferred; a has not installed the new pair yet.
  b.dp.installChild({ ...s2.b, deferOutbound: true });
  b.dp.onTunPackets([toA]);
  assert.equal(b.sent[0]!.datagram.readUInt32BE(0), 0x2002, 'b still sends on the old pair');
  b.deliverTo(a);
  assert.equal(a.tun.length, 1, 'a, without the new pair yet, gets it');
  assert.equal(a.dp.status().drops.unknown_spi, 0);
  // a gets the response, installs and sends on the new pair: b sees it and moves too.
  a.dp.installChild(s2.a);
  a.dp.onTunPackets([toB]);
  assert.equal(a.sent[0]!.datagram.readUInt32BE(0), 0x3003);
  a.deliverTo(b);
  b.dp.onTunPackets([toA]);
  assert.equal(b.sent[0]!.datagram.readUInt32BE(0), 0x4004, 'b moved to the new pair');
  assert.deepEqual(b.dp.status().children[0]!.sas.map((s) => [s.spi_in, s.outbound]), [['0x00003003', true], ['0x00001001', false]]);
});

test('a deferred pair takes outbound once the older pair is removed (the peer never sent on it)', () => {
  const { b } = lab('tunnel', {}, newKeys(0x1001, 0x2002));
  const s2 = specs('tunnel', newKeys(0x3003, 0x4004));
  b.dp.installChild({ ...s2.b, deferOutbound: true });
  b.dp.removeSa(0x1001);
  b.dp.onTunPackets([udpPacket('10.2.0.7', '10.1.0.5', 1, 2, 10)]);
  assert.equal(b.sent[0]!.datagram.readUInt32BE(0), 0x4004);
});

test('a retired pair (DELETE on its way) gives outbound to another pair, and still accepts inbound', () => {
  const { a, b } = lab('tunnel', {}, newKeys(0x1001, 0x2002));
  a.dp.onTunPackets([udpPacket('10.1.0.5', '10.2.0.7', 1, 2, 10)]); // sealed on the old pair, in flight
  const s2 = specs('tunnel', newKeys(0x3003, 0x4004));
  // b answered the new pair (deferred), then deletes the old one itself (e.g. a re-authentication it finished).
  b.dp.installChild({ ...s2.b, deferOutbound: true });
  a.dp.installChild(s2.a);
  b.dp.retireOutbound(0x1001);
  b.dp.onTunPackets([udpPacket('10.2.0.7', '10.1.0.5', 1, 2, 10)]);
  assert.equal(b.sent[0]!.datagram.readUInt32BE(0), 0x4004, 'the peer drops the old SA on our DELETE: we must not use it meanwhile');
  a.deliverTo(b);
  assert.equal(b.tun.length, 1, 'the retired pair still opens what the peer sent before it knew');
  b.dp.retireOutbound(0xdead); // unknown: ignored
  assert.equal(b.dp.status().drops.unknown_spi, 0);
});
