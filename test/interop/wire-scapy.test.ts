// Independent decoder (b): scapy (Debian python3-scapy) builds packets that our parsers must
// decode to the values scapy reports, and scapy dissects packets that our codecs built, with
// every IPv4/UDP/ICMP checksum recomputed on the scapy side. Also: an ESP packet sealed by scapy's
// AES-GCM SA opens with EspGcm (RFC 4106 nonce and AAD agree between the two implementations).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { parseIpv4Header, isIpv4Fragment, type Ipv4Header } from '../../src/wire/ipv4.js';
import { formatIpv4, parseIpv4 } from '../../src/wire/address.js';
import { parseUdpHeader, buildIpv4UdpPacket, type UdpHeader } from '../../src/wire/udp.js';
import { parseEthernetHeader, formatMac, type EthernetHeader } from '../../src/wire/ethernet.js';
import {
  parseGeneveHeader, readGeneveOption, newGeneveHeader, newGeneveOption, understandsOvnOption, type GeneveHeader, type GeneveOption,
} from '../../src/wire/geneve.js';
import { classifyUdpEncap } from '../../src/wire/udp-encap.js';
import { EspGcm } from '../../src/crypto/aes-gcm.js';
import { PcapBufferWriter, parsePcap, LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_RAW, type PcapCapture } from '../../src/wire/pcap.js';
import {
  espShaped, geneveOverlayPacket, ikeSaInitHeader, innerIcmpEcho, innerUdp, natTPacket, ovnOption, udp4500,
} from './wire-packets.js';

const PYTHON = '/usr/bin/python3';

function scapy(script: string, input: unknown): unknown {
  const out = execFileSync(PYTHON, ['-c', script], { input: JSON.stringify(input), encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 16 << 20 });
  return JSON.parse(out);
}

function ok<T>(r: T | string, what: string): T {
  if (typeof r === 'string') assert.fail(`${what}: ${r}`);
  return r;
}

// ---------- scapy builds, we parse ----------

const SCAPY_BUILDS = String.raw`
import json, sys
from scapy.all import IP, UDP, ICMP, Ether, Raw, raw, IPOption_Router_Alert
from scapy.contrib.geneve import GENEVE, GeneveOptions
from scapy.layers.ipsec import SecurityAssociation, ESP
import scapy.contrib.ikev2 as ikev2

def geneve_options(g):
    # scapy 2.5.0's GeneveOptions has no extract_padding: dissecting the whole list leaves every
    # option after the first as Raw inside it. Let scapy dissect one option at a time instead.
    data, out = raw(g)[8:8 + g.optionlen * 4], []
    while data:
        o = GeneveOptions(data)
        out.append([o.classid, o.type, o.length, bytes(o.data).hex()])
        data = data[4 + o.length * 4:]
    return out

def geneve_view(p):
    g = p[GENEVE]
    return {'vni': g.vni, 'proto': g.proto, 'oam': g.oam, 'critical': g.critical, 'optionlen': g.optionlen,
            'options': geneve_options(g)}

out = []
outer = IP(src='198.18.0.1', dst='198.18.0.2', ttl=61, id=0x1111, flags='DF', options=[IPOption_Router_Alert()])
p = IP(raw(outer/UDP(sport=49152, dport=6081)/GENEVE(vni=7, proto=0x6558, critical=1,
        options=[GeneveOptions(classid=0x0102, type=0x80, data=b'\x00\x01\x00\x02')])
    /Ether(src='0a:58:0a:fe:01:05', dst='0a:58:0a:fe:02:07')
    /IP(src='10.254.1.5', dst='10.254.2.7', ttl=63)/ICMP(id=0x1234, seq=7)/b'abcdefgh'))
inner = p[GENEVE].payload
out.append({'name': 'geneve-ovn-icmp', 'hex': raw(p).hex(), 'ip': {'ihl': p.ihl, 'len': p.len, 'ttl': p.ttl, 'id': p.id, 'df': int('DF' in p.flags), 'src': p.src, 'dst': p.dst},
    'udp': {'sport': p[UDP].sport, 'dport': p[UDP].dport, 'len': p[UDP].len}, 'geneve': geneve_view(p),
    'eth': {'src': inner.src, 'dst': inner.dst, 'type': inner.type},
    'inner': {'src': inner[IP].src, 'dst': inner[IP].dst, 'ttl': inner[IP].ttl, 'proto': inner[IP].proto, 'icmp_id': inner[ICMP].id, 'icmp_seq': inner[ICMP].seq}})

p = IP(raw(IP(src='198.18.0.1', dst='198.18.0.2')/UDP(sport=40000, dport=6081)/GENEVE(vni=0xabcdef, proto=0x6558, oam=1, critical=1,
        options=[GeneveOptions(classid=0xffff, type=0x01, data=b'\x11'*8), GeneveOptions(classid=0x0999, type=0x85, data=b'\x22'*4)])
    /Ether(src='0a:58:0a:fe:01:05', dst='0a:58:0a:fe:02:07')/IP(src='10.254.1.5', dst='10.254.2.7')/UDP(sport=5555, dport=7777)/b'hello'))
out.append({'name': 'geneve-oam-unknown-critical', 'hex': raw(p).hex(), 'geneve': geneve_view(p)})

p = IP(raw(IP(src='192.0.2.1', dst='192.0.2.2')/UDP(sport=1, dport=2, chksum=0)/b'payload'))
out.append({'name': 'udp-zero-checksum', 'hex': raw(p).hex(), 'udp': {'len': p[UDP].len, 'chksum': p[UDP].chksum}})

p = IP(raw(IP(src='192.0.2.1', dst='192.0.2.2', id=0xbeef, flags='MF', frag=185, proto=17)/Raw(b'x'*24)))
out.append({'name': 'fragment', 'hex': raw(p).hex(), 'ip': {'id': p.id, 'mf': int('MF' in p.flags), 'frag': p.frag, 'len': p.len}})

nat = IP(src='198.18.0.1', dst='198.18.0.2')/UDP(sport=4500, dport=4500)
out.append({'name': 'natt-keepalive', 'hex': raw(IP(raw(nat/b'\xff'))).hex()})
ike = ikev2.IKEv2(init_SPI=b'\x01\x02\x03\x04\x05\x06\x07\x08', exch_type=34, flags='Initiator')
out.append({'name': 'natt-ike', 'hex': raw(IP(raw(nat/(b'\x00'*4 + raw(ike))))).hex(), 'ike': raw(ike).hex()})

key = bytes(range(1, 33)) + bytes.fromhex('cafebabe')
sa = SecurityAssociation(ESP, spi=0x11223344, crypt_algo='AES-GCM', crypt_key=key, tunnel_header=IP(src='198.18.0.1', dst='198.18.0.2'))
innerpkt = IP(raw(IP(src='10.254.1.5', dst='10.254.2.7')/ICMP(id=9, seq=1)/b'sealed by scapy'))
sealed = sa.encrypt(innerpkt, seq_num=42, iv=bytes.fromhex('0001020304050607'))
esp = raw(sealed[ESP])
out.append({'name': 'natt-esp', 'hex': raw(IP(raw(nat/esp))).hex(), 'key': key.hex(), 'inner': raw(innerpkt).hex(), 'spi': 0x11223344, 'seq': 42})
json.dump(out, sys.stdout)
`;

interface ScapyBuilt {
  name: string;
  hex: string;
  [k: string]: unknown;
}

test('scapy builds, our parsers decode the same values', () => {
  const cases = scapy(SCAPY_BUILDS, null) as ScapyBuilt[];
  const by = new Map(cases.map((c) => [c.name, c]));
  const get = (n: string): ScapyBuilt => by.get(n) ?? assert.fail(`scapy case ${n} missing`);

  // Outer IPv4 with an option, UDP, Geneve with OVN's critical option, inner Ethernet/IPv4/ICMP.
  {
    const c = get('geneve-ovn-icmp') as ScapyBuilt & {
      ip: { ihl: number; len: number; ttl: number; id: number; df: number; src: string; dst: string };
      udp: { sport: number; dport: number; len: number };
      geneve: { vni: number; proto: number; oam: number; critical: number; optionlen: number; options: [number, number, number, string][] };
      eth: { src: string; dst: string; type: number };
      inner: { src: string; dst: string; ttl: number; proto: number; icmp_id: number; icmp_seq: number };
    };
    const b = Buffer.from(c.hex, 'hex');
    const ip = ok<Ipv4Header>(parseIpv4Header(b), 'outer IPv4');
    assert.equal(ip.headerLength, c.ip.ihl * 4);
    assert.equal(ip.optionsLength, 4);
    assert.deepEqual([ip.totalLength, ip.ttl, ip.identification, ip.dontFragment ? 1 : 0, formatIpv4(ip.src), formatIpv4(ip.dst)], [c.ip.len, c.ip.ttl, c.ip.id, c.ip.df, c.ip.src, c.ip.dst]);
    const udp = ok<UdpHeader>(parseUdpHeader(b, ip.payloadOffset, ip.payloadLength, ip.src, ip.dst), 'outer UDP (checksum verified)');
    assert.deepEqual([udp.srcPort, udp.dstPort, udp.length], [c.udp.sport, c.udp.dport, c.udp.len]);
    const g = ok<GeneveHeader>(parseGeneveHeader(b, udp.payloadOffset, udp.payloadLength, understandsOvnOption), 'Geneve');
    assert.deepEqual([g.vni, g.protocolType, g.oam ? 1 : 0, g.criticalFlag ? 1 : 0, g.optionsLength / 4], [c.geneve.vni, c.geneve.proto, c.geneve.oam, c.geneve.critical, c.geneve.optionlen]);
    const opts: [number, number, number, string][] = [];
    const o = newGeneveOption();
    for (let p = g.optionsOffset; p < g.optionsOffset + g.optionsLength; p = o.next) {
      ok<GeneveOption>(readGeneveOption(b, p, g.optionsOffset + g.optionsLength, o), 'option');
      opts.push([o.optionClass, o.type, o.dataLength / 4, b.subarray(o.dataOffset, o.dataOffset + o.dataLength).toString('hex')]);
    }
    assert.deepEqual(opts, c.geneve.options);
    const eth = ok<EthernetHeader>(parseEthernetHeader(b, g.payloadOffset, g.payloadLength), 'inner Ethernet');
    assert.deepEqual([formatMac(eth.src), formatMac(eth.dst), eth.etherType], [c.eth.src, c.eth.dst, c.eth.type]);
    const inner = ok<Ipv4Header>(parseIpv4Header(b, eth.payloadOffset, eth.payloadLength), 'inner IPv4 (checksum verified)');
    assert.deepEqual([formatIpv4(inner.src), formatIpv4(inner.dst), inner.ttl, inner.protocol], [c.inner.src, c.inner.dst, c.inner.ttl, c.inner.proto]);
    assert.deepEqual([b.readUInt16BE(inner.payloadOffset + 4), b.readUInt16BE(inner.payloadOffset + 6)], [c.inner.icmp_id, c.inner.icmp_seq]);
  }

  // O bit, a non-critical option we skip, and a critical option we do not understand.
  {
    const c = get('geneve-oam-unknown-critical') as ScapyBuilt & { geneve: { vni: number; oam: number; critical: number } };
    const b = Buffer.from(c.hex, 'hex');
    const ip = ok<Ipv4Header>(parseIpv4Header(b), 'IPv4');
    const udp = ok<UdpHeader>(parseUdpHeader(b, ip.payloadOffset, ip.payloadLength, ip.src, ip.dst), 'UDP');
    const into = newGeneveHeader();
    assert.equal(parseGeneveHeader(b, udp.payloadOffset, udp.payloadLength, understandsOvnOption, into), 'unknown_critical_option');
    assert.deepEqual([into.rejectedOptionClass, into.rejectedOptionType], [0x0999, 0x85]);
    const all = ok<GeneveHeader>(parseGeneveHeader(b, udp.payloadOffset, udp.payloadLength, () => true), 'Geneve, all understood');
    assert.deepEqual([all.vni, all.oam ? 1 : 0, all.criticalFlag ? 1 : 0, all.optionCount, all.criticalOptionCount], [c.geneve.vni, c.geneve.oam, c.geneve.critical, 2, 1]);
  }

  // Checksum 0 on UDP/IPv4: "none", accepted.
  {
    const c = get('udp-zero-checksum') as ScapyBuilt & { udp: { len: number; chksum: number } };
    const b = Buffer.from(c.hex, 'hex');
    const ip = ok<Ipv4Header>(parseIpv4Header(b), 'IPv4');
    const udp = ok<UdpHeader>(parseUdpHeader(b, ip.payloadOffset, ip.payloadLength, ip.src, ip.dst), 'UDP with checksum 0');
    assert.deepEqual([udp.length, udp.checksum], [c.udp.len, c.udp.chksum]);
    assert.equal(udp.checksum, 0);
  }

  // Fragment fields: scapy's frag counts 8-byte units, ours bytes.
  {
    const c = get('fragment') as ScapyBuilt & { ip: { id: number; mf: number; frag: number; len: number } };
    const ip = ok<Ipv4Header>(parseIpv4Header(Buffer.from(c.hex, 'hex')), 'fragment');
    assert.deepEqual([ip.identification, ip.moreFragments ? 1 : 0, ip.fragmentOffset, ip.totalLength], [c.ip.id, c.ip.mf, c.ip.frag * 8, c.ip.len]);
    assert.ok(isIpv4Fragment(ip));
  }

  // UDP 4500: keepalive, IKE after the marker, ESP sealed by scapy's AES-GCM SA.
  const udpPayload = (hex: string): { b: Buffer; off: number; len: number } => {
    const b = Buffer.from(hex, 'hex');
    const ip = ok<Ipv4Header>(parseIpv4Header(b), 'IPv4');
    const udp = ok<UdpHeader>(parseUdpHeader(b, ip.payloadOffset, ip.payloadLength, ip.src, ip.dst), 'UDP');
    assert.equal(udp.dstPort, 4500);
    return { b, off: udp.payloadOffset, len: udp.payloadLength };
  };
  {
    const u = udpPayload(get('natt-keepalive').hex);
    assert.equal(classifyUdpEncap(u.b, u.off, u.len).kind, 'keepalive');
  }
  {
    const c = get('natt-ike') as ScapyBuilt & { ike: string };
    const u = udpPayload(c.hex);
    const k = classifyUdpEncap(u.b, u.off, u.len);
    assert.equal(k.kind, 'ike');
    assert.equal(u.b.subarray(k.offset, k.offset + k.length).toString('hex'), c.ike);
  }
  {
    const c = get('natt-esp') as ScapyBuilt & { key: string; inner: string; spi: number; seq: number };
    const u = udpPayload(c.hex);
    const k = classifyUdpEncap(u.b, u.off, u.len);
    assert.deepEqual([k.kind, k.spi], ['esp', c.spi]);
    const esp = u.b.subarray(k.offset, k.offset + k.length);
    assert.equal(esp.readUInt32BE(4), c.seq);
    const gcm = new EspGcm(Buffer.from(c.key, 'hex'));
    const body = esp.subarray(16, esp.length - 16);
    const plain = Buffer.alloc(body.length);
    const n = gcm.open(esp.subarray(8, 16), esp.subarray(0, 8), body, esp.subarray(esp.length - 16), plain, 0);
    assert.equal(n, body.length, 'EspGcm opens what scapy sealed');
    const inner = Buffer.from(c.inner, 'hex');
    assert.equal(plain.subarray(0, inner.length).toString('hex'), c.inner);
    assert.equal(plain[n - 1], 4, 'next header: IPv4 (tunnel mode)');
  }
});

// ---------- we build, scapy parses ----------

const SCAPY_PARSES = String.raw`
import json, sys
from scapy.all import IP, UDP, ICMP, Ether, raw
from scapy.utils import checksum
from scapy.layers.inet import in4_chksum
import scapy.layers.ipsec  # binds UDP 4500 to NAT_KEEPALIVE / NON_ESP / ESP
import scapy.contrib.ikev2  # dissects the IKE message behind NON_ESP
from scapy.contrib.geneve import GENEVE, GeneveOptions

def geneve_options(g):
    # scapy 2.5.0's GeneveOptions has no extract_padding: dissecting the whole list leaves every
    # option after the first as Raw inside it. Let scapy dissect one option at a time instead.
    data, out = raw(g)[8:8 + g.optionlen * 4], []
    while data:
        o = GeneveOptions(data)
        out.append([o.classid, o.type, o.length, bytes(o.data).hex()])
        data = data[4 + o.length * 4:]
    return out

def ip_ok(ip):
    return checksum(raw(ip)[:ip.ihl * 4]) == 0

def udp_ok(ip, udp):
    if udp.chksum == 0:
        return 'none'
    return in4_chksum(17, ip, raw(udp)[:udp.len]) == 0

res = []
for case in json.load(sys.stdin):
    p = IP(bytes.fromhex(case['hex']))
    r = {'name': case['name'], 'src': p.src, 'dst': p.dst, 'ttl': p.ttl, 'len': p.len, 'ip_ok': ip_ok(p)}
    if UDP in p:
        u = p[UDP]
        r.update({'sport': u.sport, 'dport': u.dport, 'ulen': u.len, 'udp_ok': udp_ok(p, u), 'layers': [l.__name__ for l in p.layers()]})
    if GENEVE in p:
        g = p[GENEVE]
        r['geneve'] = {'version': g.version, 'vni': g.vni, 'proto': g.proto, 'oam': g.oam, 'critical': g.critical, 'optionlen': g.optionlen,
                       'options': geneve_options(g)}
        e = g.payload
        r['eth'] = {'src': e.src, 'dst': e.dst, 'type': e.type}
        i = e[IP]
        r['inner'] = {'src': i.src, 'dst': i.dst, 'ip_ok': ip_ok(i), 'proto': i.proto}
        if ICMP in i:
            r['inner'].update({'icmp_id': i[ICMP].id, 'icmp_seq': i[ICMP].seq, 'icmp_ok': checksum(raw(i[ICMP])) == 0, 'load': bytes(i[ICMP].payload).hex()})
        if UDP in i:
            r['inner'].update({'sport': i[UDP].sport, 'dport': i[UDP].dport, 'udp_ok': udp_ok(i, i[UDP]), 'load': bytes(i[UDP].payload).hex()})
    if case['name'].startswith('natt-'):
        r['udp_payload'] = raw(p[UDP].payload).hex()
    res.append(r)
json.dump(res, sys.stdout)
`;

test('we build, scapy dissects the same values and recomputes every checksum as valid', () => {
  const ours = [
    { name: 'geneve-ovn-icmp', pkt: geneveOverlayPacket({ vni: 7, options: [ovnOption], inner: innerIcmpEcho(0x1234, 7, Buffer.from('abcdefgh')) }) },
    { name: 'geneve-oam-udp', pkt: geneveOverlayPacket({ vni: 0xabcdef, oam: true, srcPort: 65000, options: [{ optionClass: 0xffff, type: 0x01, data: Buffer.alloc(8, 0x11) }, ovnOption], inner: innerUdp(5555, 7777, Buffer.from('hello')) }) },
    { name: 'natt-keepalive', pkt: natTPacket(udp4500.natKeepalive()) },
    { name: 'natt-ike', pkt: natTPacket(udp4500.prependNonEspMarker(ikeSaInitHeader(Buffer.from('0102030405060708', 'hex')))) },
    { name: 'natt-esp', pkt: natTPacket(espShaped(0xc0ffee01, 77, 40)) },
    { name: 'udp-odd', pkt: buildIpv4UdpPacket({ src: parseIpv4('192.0.2.1')!, dst: parseIpv4('192.0.2.2')!, srcPort: 1, dstPort: 9, ttl: 1 }, Buffer.from('odd length payload!')) },
  ];
  const res = scapy(SCAPY_PARSES, ours.map((o) => ({ name: o.name, hex: o.pkt.toString('hex') }))) as Record<string, any>[];
  const by = new Map(res.map((r) => [r['name'] as string, r]));
  for (const o of ours) {
    const r = by.get(o.name)!;
    assert.ok(r, o.name);
    assert.equal(r['ip_ok'], true, `${o.name}: IPv4 checksum`);
    assert.equal(r['udp_ok'], true, `${o.name}: UDP checksum`);
    assert.equal(r['len'], o.pkt.length, `${o.name}: IPv4 total length`);
    assert.equal(r['ulen'], o.pkt.length - 20, `${o.name}: UDP length`);
  }

  const a = by.get('geneve-ovn-icmp')!;
  assert.deepEqual([a['src'], a['dst'], a['sport'], a['dport']], ['198.18.0.1', '198.18.0.2', 49152, 6081]);
  assert.deepEqual(a['geneve'], { version: 0, vni: 7, proto: 0x6558, oam: 0, critical: 1, optionlen: 2, options: [[0x0102, 0x80, 1, '00010002']] });
  assert.deepEqual(a['eth'], { src: '0a:58:0a:fe:01:05', dst: '0a:58:0a:fe:02:07', type: 0x0800 });
  assert.deepEqual(a['inner'], { src: '10.254.1.5', dst: '10.254.2.7', ip_ok: true, proto: 1, icmp_id: 0x1234, icmp_seq: 7, icmp_ok: true, load: Buffer.from('abcdefgh').toString('hex') });

  const b = by.get('geneve-oam-udp')!;
  assert.deepEqual(b['geneve'], { version: 0, vni: 0xabcdef, proto: 0x6558, oam: 1, critical: 1, optionlen: 5, options: [[0xffff, 0x01, 2, '11'.repeat(8)], [0x0102, 0x80, 1, '00010002']] });
  assert.deepEqual(b['inner'], { src: '10.254.1.5', dst: '10.254.2.7', ip_ok: true, proto: 17, sport: 5555, dport: 7777, udp_ok: true, load: Buffer.from('hello').toString('hex') });

  assert.deepEqual(by.get('natt-keepalive')!['layers'], ['IP', 'UDP', 'NAT_KEEPALIVE']);
  assert.deepEqual(by.get('natt-ike')!['layers'].slice(0, 4), ['IP', 'UDP', 'NON_ESP', 'IKEv2']);
  assert.deepEqual(by.get('natt-esp')!['layers'], ['IP', 'UDP', 'ESP']);
  assert.equal(by.get('natt-esp')!['udp_payload'].slice(0, 16), 'c0ffee010000004d');
  assert.equal(by.get('udp-odd')!['ttl'], 1);
});

// ---------- pcap files across the two implementations ----------

const SCAPY_PCAP = String.raw`
import json, sys, os, tempfile
from scapy.all import IP, UDP, ICMP, Ether, raw, wrpcap, rdpcap
from scapy.utils import RawPcapReader
req = json.load(sys.stdin)
d = tempfile.mkdtemp()
# scapy writes: microsecond and nanosecond files
pk = [IP(src='198.18.0.1', dst='198.18.0.2')/UDP(sport=4500, dport=4500)/b'\xff', IP(src='10.0.0.1', dst='10.0.0.2')/ICMP()/b'abc']
pk[0].time = 1700000000.25
pk[1].time = 1700000001.000001
wrpcap(os.path.join(d, 'us.pcap'), pk)
eth = [Ether(src='02:00:00:00:00:01', dst='02:00:00:00:00:02')/IP()/UDP()]
eth[0].time = 1700000002.5  # exact in a float; scapy keeps time as a float
wrpcap(os.path.join(d, 'ns.pcap'), eth, nano=True)
out = {'us': open(os.path.join(d, 'us.pcap'), 'rb').read().hex(), 'ns': open(os.path.join(d, 'ns.pcap'), 'rb').read().hex(),
       'us_packets': [raw(p).hex() for p in pk], 'ns_packets': [raw(p).hex() for p in eth]}
# scapy reads ours
ours = os.path.join(d, 'ours.pcap')
open(ours, 'wb').write(bytes.fromhex(req['ours']))
r = rdpcap(ours)
out['read'] = [{'hex': raw(p).hex(), 'time': float(p.time), 'cls': type(p).__name__} for p in r]
rr = RawPcapReader(ours)
out['linktype'] = rr.linktype
rr.close()
json.dump(out, sys.stdout)
`;

test('pcap: our reader reads scapy-written files (µs, ns, LINKTYPE_IPV4/ETHERNET); scapy reads ours', () => {
  const w = new PcapBufferWriter(LINKTYPE_RAW);
  const pkts = [natTPacket(udp4500.natKeepalive()), geneveOverlayPacket({ vni: 3, options: [ovnOption], inner: innerIcmpEcho(5, 6, Buffer.from('zz')) })];
  w.writePacket(pkts[0]!, 1_700_000_000_250.5);
  w.writePacket(pkts[1]!, 1_700_000_001_000);
  const r = scapy(SCAPY_PCAP, { ours: w.toBuffer().toString('hex') }) as {
    us: string; ns: string; us_packets: string[]; ns_packets: string[]; read: { hex: string; time: number; cls: string }[]; linktype: number;
  };

  const us = ok<PcapCapture>(parsePcap(Buffer.from(r.us, 'hex')), 'scapy µs file');
  assert.deepEqual([us.linkType, us.nanosecond, us.truncated], [LINKTYPE_IPV4, false, false]);
  assert.deepEqual(us.packets.map((p) => p.data.toString('hex')), r.us_packets);
  assert.deepEqual(us.packets.map((p) => p.timestampMs), [1_700_000_000_250, 1_700_000_001_000.001]);
  const first = ok<Ipv4Header>(parseIpv4Header(us.packets[0]!.data), 'IPv4 in scapy capture');
  assert.equal(classifyUdpEncap(us.packets[0]!.data, first.payloadOffset + 8, first.payloadLength - 8).kind, 'keepalive');

  const ns = ok<PcapCapture>(parsePcap(Buffer.from(r.ns, 'hex')), 'scapy ns file');
  assert.deepEqual([ns.linkType, ns.nanosecond], [LINKTYPE_ETHERNET, true]);
  assert.equal(ns.packets[0]!.data.toString('hex'), r.ns_packets[0]);
  assert.equal(ns.packets[0]!.fraction, 500_000_000);
  assert.equal(ns.packets[0]!.timestampMs, 1_700_000_002_500);
  assert.equal(formatMac(ok<EthernetHeader>(parseEthernetHeader(ns.packets[0]!.data), 'Ethernet').src), '02:00:00:00:00:01');

  assert.equal(r.linktype, LINKTYPE_RAW);
  assert.deepEqual(r.read.map((p) => p.hex), pkts.map((p) => p.toString('hex')));
  assert.deepEqual(r.read.map((p) => p.cls), ['IP', 'IP']);
  assert.ok(Math.abs(r.read[0]!.time - 1_700_000_000.2505) < 1e-6, `time ${r.read[0]!.time}`);
  assert.ok(Math.abs(r.read[1]!.time - 1_700_000_001) < 1e-6);
});
