import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ETHERTYPE_ARP, ETHERTYPE_IPV4, MAC_BROADCAST, formatMac, isMulticastMac, newEthernetHeader, parseEthernetHeader, parseMac,
  readMac, writeEthernetHeader, writeMac, type EthernetHeader,
} from '../../src/wire/ethernet.js';

function ok(r: EthernetHeader | string): EthernetHeader {
  if (typeof r === 'string') assert.fail(`expected a header, got ${r}`);
  return r;
}

test('parses a known frame header', () => {
  const f = Buffer.from('ffffffffffff0a580afe0001080600010800060400010a580afe00010afe0001', 'hex');
  const h = ok(parseEthernetHeader(f));
  assert.equal(h.dst, MAC_BROADCAST);
  assert.equal(formatMac(h.src), '0a:58:0a:fe:00:01');
  assert.equal(h.etherType, ETHERTYPE_ARP);
  assert.equal(h.vlanId, -1);
  assert.equal(h.payloadOffset, 14);
  assert.equal(h.payloadLength, f.length - 14);
});

test('write then parse, at an offset, into a reused object', () => {
  const b = Buffer.alloc(64);
  const src = parseMac('0a:58:0a:fe:01:05')!;
  const dst = parseMac('0A-58-0A-FE-02-07')!;
  assert.equal(writeEthernetHeader(b, 4, dst, src, ETHERTYPE_IPV4), 14);
  const into = newEthernetHeader();
  const h = ok(parseEthernetHeader(b, 4, 60, into));
  assert.equal(h, into);
  assert.equal(formatMac(h.dst), '0a:58:0a:fe:02:07');
  assert.equal(formatMac(h.src), '0a:58:0a:fe:01:05');
  assert.equal(h.etherType, ETHERTYPE_IPV4);
  assert.equal(h.payloadOffset, 18);
  assert.equal(h.payloadLength, 46);
});

test('802.1Q tag: VLAN id and inner EtherType', () => {
  const f = Buffer.from('020000000001020000000002810020640800' + '45', 'hex');
  const h = ok(parseEthernetHeader(f));
  assert.equal(h.vlanId, 100);
  assert.equal(h.etherType, ETHERTYPE_IPV4);
  assert.equal(h.headerLength, 18);
  assert.equal(parseEthernetHeader(f.subarray(0, 17)), 'truncated');
});

test('bad frames', () => {
  assert.equal(parseEthernetHeader(Buffer.alloc(13)), 'truncated');
  const llc = Buffer.alloc(60);
  llc.writeUInt16BE(46, 12); // an 802.3 length field, not an EtherType
  assert.equal(parseEthernetHeader(llc), 'not_ethernet_ii');
  assert.equal(parseEthernetHeader(Buffer.alloc(20), 10, 14), 'truncated');
});

test('MAC helpers', () => {
  for (const s of ['00:00:00:00:00:00', 'ff:ff:ff:ff:ff:ff', '0a:58:0a:fe:00:01', '01:00:5e:00:00:fb', 'fe:dc:ba:98:76:54']) {
    const m = parseMac(s)!;
    assert.equal(formatMac(m), s);
    const b = Buffer.alloc(6);
    writeMac(b, 0, m);
    assert.equal(b.toString('hex'), s.replaceAll(':', ''));
    assert.equal(readMac(b, 0), m);
  }
  for (const bad of ['', '00:00:00:00:00', '00:00:00:00:00:00:00', 'gg:00:00:00:00:00', '00:00-00:00:00:00', '0:0:0:0:0:0']) {
    assert.equal(parseMac(bad), null, bad);
  }
  assert.ok(isMulticastMac(MAC_BROADCAST));
  assert.ok(isMulticastMac(parseMac('01:00:5e:00:00:01')!));
  assert.ok(!isMulticastMac(parseMac('0a:58:0a:fe:00:01')!));
});
