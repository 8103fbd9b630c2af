import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  allWithin, anySelector, cidrSelector, formatTs, formatTsLibreswan, fromEntries, intersect, narrow, parseTs, resolveTs,
  selectorMatches, toEntry, TsSyntaxError, TsType,
} from '../../src/wire/traffic-selector.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { decodeBody, encodeBody, type PayloadOf } from '../../src/ike/message/payloads.js';
import { PayloadType } from '../../src/ike/constants.js';

test('traffic selectors: swanctl forms', () => {
  assert.deepEqual(parseTs('10.1.0.0/24').ts, { protocol: 0, startAddr: 0x0a010000, endAddr: 0x0a0100ff, startPort: 0, endPort: 65535 });
  assert.deepEqual(parseTs('10.1.2.3').ts.endAddr, 0x0a010203);
  const d = parseTs('dynamic[udp/6081]');
  assert.equal(d.dynamic, true);
  assert.equal(d.ts.protocol, 17);
  assert.equal(d.ts.startPort, 6081);
  assert.deepEqual(resolveTs([d], '192.168.7.11')[0], { protocol: 17, startAddr: 0xc0a8070b, endAddr: 0xc0a8070b, startPort: 6081, endPort: 6081 });
  assert.equal(parseTs('0.0.0.0/0[tcp/1000-2000]').ts.endPort, 2000);
  assert.equal(parseTs('dynamic[udp]').ts.endPort, 65535);
  for (const bad of ['10.1.0.0/33', 'fe80::/64', '10.1.0.0/24[udp/70000]', 'host.example', '10.0.0.0/8[bogus/1]']) {
    assert.throws(() => parseTs(bad), TsSyntaxError, bad);
  }
  assert.equal(formatTs(parseTs('10.1.0.0/24[udp/6081]').ts), '10.1.0.0/24[udp/6081]');
  assert.equal(formatTsLibreswan(resolveTs([d], '192.168.7.11')[0]!), '192.168.7.11-192.168.7.11:6081-6081 17');
});

test('narrowing (§2.9): intersections; protocol and port ranges; subset check', () => {
  const mine = [parseTs('10.2.0.0/24[udp/6081]').ts];
  const theirs = [parseTs('10.0.0.0/8').ts, parseTs('10.2.0.128/25[udp]').ts];
  const n = narrow(mine, theirs);
  assert.deepEqual(n.map(formatTs), ['10.2.0.0/24[udp/6081]', '10.2.0.128/25[udp/6081]']);
  assert.equal(intersect(parseTs('0.0.0.0/0[tcp]').ts, parseTs('0.0.0.0/0[udp]').ts), undefined);
  assert.equal(narrow([parseTs('10.9.0.0/16').ts], theirs.slice(1)).length, 0);
  assert.ok(allWithin(n, theirs));
  assert.ok(!allWithin([parseTs('11.0.0.0/8').ts], theirs));
  assert.ok(!allWithin([], theirs), 'an empty answer is not acceptable');
});

test('protocols without ports (and later fragments) match only selectors with the full port range', () => {
  const anyPort = cidrSelector('10.0.0.0/8');
  const port53 = cidrSelector('10.0.0.0/8', 17, 53);
  assert.ok(selectorMatches(anyPort, 1, parseIpv4('10.1.1.1')!, -1));
  assert.ok(!selectorMatches(port53, 17, parseIpv4('10.1.1.1')!, -1));
  assert.ok(selectorMatches(port53, 17, parseIpv4('10.1.1.1')!, 53));
  assert.ok(!selectorMatches(port53, 6, parseIpv4('10.1.1.1')!, 53));
  assert.ok(!selectorMatches(port53, 17, parseIpv4('11.1.1.1')!, 53));
  assert.ok(selectorMatches(anySelector(), 50, 0xffffffff, 1));
});

test('selectors print as swanctl writes them', () => {
  assert.equal(formatTs(cidrSelector('10.254.1.0/24')), '10.254.1.0/24');
  assert.equal(formatTs(cidrSelector('198.18.0.1/32', 17)), '198.18.0.1/32[udp]');
  assert.equal(formatTs(cidrSelector('198.18.0.1', 17, 6081)), '198.18.0.1/32[udp/6081]');
  assert.equal(formatTs(anySelector()), '0.0.0.0/0');
  assert.equal(formatTs({ protocol: 6, startAddr: parseIpv4('10.0.0.1')!, endAddr: parseIpv4('10.0.0.9')!, startPort: 1000, endPort: 2000 }), '10.0.0.1..10.0.0.9[tcp/1000-2000]');
  assert.equal(formatTs(cidrSelector('10.0.0.0/8', 99)), '10.0.0.0/8[99]');
  assert.throws(() => cidrSelector('10.0.0/8'), RangeError);
});


test('parse edge cases: ranges, %any, no address = dynamic, protocol numbers, whitespace', () => {
  assert.deepEqual(parseTs('10.0.0.1-10.0.0.9').ts, { protocol: 0, startAddr: 0x0a000001, endAddr: 0x0a000009, startPort: 0, endPort: 65535 });
  assert.deepEqual(parseTs('%any[tcp]').ts, { ...anySelector(), protocol: 6 });
  const bare = parseTs('[17/6081]');
  assert.equal(bare.dynamic, true);
  assert.deepEqual([bare.ts.protocol, bare.ts.startPort, bare.ts.endPort], [17, 6081, 6081]);
  assert.equal(parseTs('dynamic').dynamic, true);
  assert.equal(parseTs('10.0.0.0/8').dynamic, false);
  assert.equal(parseTs('  10.1.0.0/24[udp/%any]  ').text, '10.1.0.0/24[udp/%any]');
  assert.deepEqual(parseTs('10.1.0.0/24[udp/%any]').ts, cidrSelector('10.1.0.0/24', 17));
  assert.equal(parseTs('0.0.0.0/0[sctp/1-2]').ts.protocol, 132);
  assert.equal(parseTs('10.0.0.0/8[255]').ts.protocol, 255);
});

test('bad selectors: a TsSyntaxError that says what was expected', () => {
  const cases: [string, RegExp][] = [
    ['10.254.2.1/24', /^"10\.254\.2\.1\/24" has host bits set \(the network is 10\.254\.2\.0\/24\)$/],
    ['10.1.0.0/33', /prefix \/33 in "10\.1\.0\.0\/33" is longer than 32/],
    ['300.1.1.0/24', /"300\.1\.1\.0" in "300\.1\.1\.0\/24" is not an IPv4 address/],
    ['fe80::/64', /is IPv6; only IPv4 networks are supported/],
    ['host.example', /"host\.example" is not an IPv4 address/],
    ['10.0.0.9-10.0.0.1', /is not an address range \(expected e\.g\. 10\.0\.0\.1-10\.0\.0\.9, low end first\)/],
    ['10.0.0.0/8[udp/70000]', /bad port "70000"/],
    ['10.0.0.0/8[udp/2000-1000]', /bad port "2000-1000"/],
    ['10.0.0.0/8[icmp/5]', /ports need a protocol that has them/],
    ['10.0.0.0/8[/5]', /unknown protocol ""/],
    ['10.0.0.0/8[bogus/1]', /unknown protocol "bogus"/],
    ['10.0.0.0/8[256]', /unknown protocol "256"/],
    ['10.0.0.0/8[udp', /is not a traffic selector \(expected dynamic, 10\.0\.0\.0\/24 or 10\.0\.0\.0\/24\[udp\/6081\]\)/],
    ['10.0.0.0 /8', /is not a traffic selector/],
  ];
  for (const [text, why] of cases) {
    assert.throws(() => parseTs(text), (e: unknown) => e instanceof TsSyntaxError && why.test(e.message), text);
  }
});

test('resolveTs: dynamic takes the address of its end, by number or text; others are copies', () => {
  const specs = [parseTs('dynamic[udp/6081]'), parseTs('10.0.0.0/8')];
  const byText = resolveTs(specs, '192.168.7.11');
  assert.deepEqual(byText, resolveTs(specs, parseIpv4('192.168.7.11')!));
  assert.deepEqual(byText[1], specs[1]!.ts);
  assert.notEqual(byText[1], specs[1]!.ts);
});

test('IKE TS payload: selectors survive encode → decode as TS_IPV4_ADDR_RANGE entries; IPv6 entries are dropped', () => {
  const sels = [parseTs('10.1.0.0/24[udp/6081]').ts, parseTs('10.0.0.1-10.0.0.9[tcp/1000-2000]').ts, anySelector()];
  const body = encodeBody({ type: PayloadType.TSi, selectors: sels.map(toEntry) });
  const back = decodeBody(PayloadType.TSi, false, body);
  assert.ok(back.ok);
  assert.equal(back.value.type, PayloadType.TSi);
  assert.deepEqual(fromEntries((back.value as PayloadOf<typeof PayloadType.TSi>).selectors), sels);
  assert.deepEqual(toEntry(sels[0]!).startAddr, Buffer.from([10, 1, 0, 0]));
  const v6 = { tsType: TsType.IPV6_ADDR_RANGE, protocol: 0, startPort: 0, endPort: 65535, startAddr: Buffer.alloc(16), endAddr: Buffer.alloc(16, 0xff) };
  assert.deepEqual(fromEntries([v6, toEntry(sels[0]!)]), [sels[0]]);
});

test('formatTs text parses back to the same selector', () => {
  for (const text of ['10.254.1.0/24', '10.0.0.1..10.0.0.9[tcp/1000-2000]', '198.18.0.1/32[udp/6081]', '0.0.0.0/0[udp]']) {
    const ts = parseTs(text.replace('..', '-')).ts;
    assert.equal(formatTs(ts), text);
  }
});
