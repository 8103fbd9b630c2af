import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  AddressError, addressBytes, cidrContains, cidrHasAddress, cidrOf, cidrRange, cidrSize, cidrsOverlap, formatCidr,
  formatIpv4, formatRange, parseCidr, parseIpv4, prefixMask, rangeAsCidr, rangeToCidrs, subnetAt, type Cidr,
} from '../../src/wire/address.js';

const c = (s: string): Cidr => cidrOf(s);

describe('addresses', () => {
  test('parseIpv4 is strict', () => {
    assert.equal(parseIpv4('10.0.0.1'), 0x0a000001);
    assert.equal(parseIpv4('255.255.255.255'), 0xffffffff);
    assert.equal(parseIpv4('0.0.0.0'), 0);
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.4 ', ' 1.2.3.4', '1..2.3', 'a.b.c.d', '1.2.3.-4', '1.2.3.4/24', '1234.1.1.1', '1.2.3.4.', '::1', '0x0a.0.0.1']) {
      assert.equal(parseIpv4(bad), null, JSON.stringify(bad));
    }
  });

  test('formatIpv4 round-trips', () => {
    for (const a of [0, 1, 0x7f000001, 0xc0a80101, 0xffffffff, 0x80000000]) assert.equal(parseIpv4(formatIpv4(a)), a);
  });

  test('addressBytes: IPv4 and IPv6 text in network order, null for anything else', () => {
    assert.deepEqual(addressBytes('192.0.2.1'), Buffer.from([192, 0, 2, 1]));
    assert.deepEqual(addressBytes('2001:db8::1'), Buffer.from('20010db8000000000000000000000001', 'hex'));
    assert.deepEqual(addressBytes('::'), Buffer.alloc(16));
    assert.deepEqual(addressBytes('fe80::1:2'), Buffer.from('fe800000000000000000000000010002', 'hex'));
    for (const bad of ['', 'host.example', '192.0.2', '010.0.0.1', '2001:db8::g']) assert.equal(addressBytes(bad), null, bad);
  });
});

describe('CIDRs', () => {
  test('parseCidr: accepts canonical IPv4 CIDRs and says what is wrong with the rest', () => {
    assert.deepEqual(parseCidr('10.254.0.0/16'), { ok: true, cidr: { base: 0x0afe0000, prefix: 16 } });
    assert.deepEqual(parseCidr('0.0.0.0/0'), { ok: true, cidr: { base: 0, prefix: 0 } });
    assert.deepEqual(parseCidr('255.255.255.255/32'), { ok: true, cidr: { base: 0xffffffff, prefix: 32 } });
    const cases: [unknown, string][] = [
      ['10.254.0.1/16', '"10.254.0.1/16" has host bits set'],
      ['10.254.0.0', '"10.254.0.0" is not a CIDR (expected address/prefix, e.g. 10.128.0.0/14)'],
      ['010.254.0.0/16', '"010.254.0.0" in "010.254.0.0/16" is not an IPv4 address'],
      ['256.0.0.0/8', '"256.0.0.0" in "256.0.0.0/8" is not an IPv4 address'],
      ['fd00::/64', '"fd00::/64" is IPv6; only IPv4 networks are supported'],
      ['10.0.0.0/33', 'prefix /33 in "10.0.0.0/33" is longer than 32'],
      ['10.0.0.0/08', '"10.0.0.0/08" is not a CIDR (expected address/prefix, e.g. 10.128.0.0/14)'],
      ['10.0.0.0/', '"10.0.0.0/" is not a CIDR (expected address/prefix, e.g. 10.128.0.0/14)'],
      ['10.0.0.0/-1', '"10.0.0.0/-1" is not a CIDR (expected address/prefix, e.g. 10.128.0.0/14)'],
      [16, 'expected a CIDR string such as 10.128.0.0/14, got number 16'],
      [null, 'expected a CIDR string such as 10.128.0.0/14, got null'],
    ];
    for (const [input, problem] of cases) {
      const r = parseCidr(input);
      assert.equal(r.ok, false, String(input));
      if (!r.ok) assert.equal(r.problem, problem);
    }
    const hb = parseCidr('10.254.0.1/16');
    assert.equal(!hb.ok && hb.canonical, '10.254.0.0/16');
  });

  test('parseCidr options: a bare address as /32, host bits cleared on request', () => {
    assert.deepEqual(parseCidr('10.1.2.3', { bareAddress: true }), { ok: true, cidr: { base: 0x0a010203, prefix: 32 } });
    const bad = parseCidr('10.1.2', { bareAddress: true });
    assert.equal(!bad.ok && bad.problem, '"10.1.2" is not an IPv4 address');
    assert.deepEqual(parseCidr('10.1.2.3/8', { clearHostBits: true }), { ok: true, cidr: { base: 0x0a000000, prefix: 8 } });
    assert.equal(parseCidr('10.1.2.3/8').ok, false);
    assert.equal(formatCidr(c(' 10.0.0.0/8 ')), '10.0.0.0/8');
  });

  test('cidrOf throws an AddressError naming the network meant', () => {
    assert.throws(() => cidrOf('10.254.2.1/24'), (e: unknown) => e instanceof AddressError && e.message === '"10.254.2.1/24" has host bits set (the network is 10.254.2.0/24)');
    assert.throws(() => cidrOf('x/8'), /"x" in "x\/8" is not an IPv4 address/);
  });

  test('overlaps / contains / subnetAt', () => {
    assert.ok(cidrsOverlap(c('10.254.0.0/16'), c('10.254.7.0/24')));
    assert.ok(cidrsOverlap(c('10.254.7.0/24'), c('10.254.0.0/16')));
    assert.ok(!cidrsOverlap(c('10.254.0.0/16'), c('10.255.0.0/16')));
    assert.ok(cidrContains(c('10.254.0.0/16'), c('10.254.255.0/24')));
    assert.ok(!cidrContains(c('10.254.7.0/24'), c('10.254.0.0/16')));
    assert.equal(formatCidr(subnetAt(c('10.254.0.0/16'), 24, 0)), '10.254.0.0/24');
    assert.equal(formatCidr(subnetAt(c('10.254.0.0/16'), 24, 255)), '10.254.255.0/24');
    assert.equal(formatCidr(subnetAt(c('10.128.0.0/14'), 23, 3)), '10.128.6.0/23');
  });

  test('contains an address, size, range, masks', () => {
    const n = c('10.254.0.0/16');
    assert.ok(cidrHasAddress(n, parseIpv4('10.254.3.4')!));
    assert.ok(!cidrHasAddress(n, parseIpv4('10.255.0.0')!));
    const all = c('0.0.0.0/0');
    assert.ok(cidrHasAddress(all, 0xffffffff) && cidrHasAddress(all, 0));
    assert.ok(cidrHasAddress(c('255.255.255.255/32'), 0xffffffff));
    assert.equal(cidrSize(n), 65536);
    assert.equal(cidrSize(all), 2 ** 32);
    assert.deepEqual(cidrRange(n), { start: 0x0afe0000, end: 0x0afeffff });
    assert.deepEqual(cidrRange(all), { start: 0, end: 0xffffffff });
    assert.equal(prefixMask(0), 0);
    assert.equal(prefixMask(1), 0x80000000);
    assert.equal(prefixMask(24), 0xffffff00);
    assert.equal(prefixMask(32), 0xffffffff);
  });
});

describe('ranges', () => {
  test('address ranges become CIDR blocks', () => {
    const texts = (start: number, end: number): string[] => rangeToCidrs({ start, end }).map(formatCidr);
    assert.deepEqual(texts(0x0a000000, 0x0a0000ff), ['10.0.0.0/24']);
    assert.deepEqual(texts(0x0a000001, 0x0a000006), ['10.0.0.1/32', '10.0.0.2/31', '10.0.0.4/31', '10.0.0.6/32']);
    assert.deepEqual(texts(0, 0xffffffff), ['0.0.0.0/0']);
    assert.deepEqual(texts(0xffffffff, 0xffffffff), ['255.255.255.255/32']);
  });

  test('a range is one CIDR only when aligned and a power of two; formatRange says which', () => {
    assert.deepEqual(rangeAsCidr({ start: 0x0a000000, end: 0x0a0000ff }), { base: 0x0a000000, prefix: 24 });
    assert.equal(rangeAsCidr({ start: 0x0a000001, end: 0x0a000100 }), null);
    assert.equal(rangeAsCidr({ start: 0x0a000000, end: 0x0a000002 }), null);
    assert.equal(formatRange({ start: 0, end: 0xffffffff }), '0.0.0.0/0');
    assert.equal(formatRange({ start: 0x0a000001, end: 0x0a000001 }), '10.0.0.1/32');
    assert.equal(formatRange({ start: 0x0a000001, end: 0x0a000009 }), '10.0.0.1..10.0.0.9');
  });
});
