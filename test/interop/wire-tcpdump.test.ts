// Our pcap reader on captures written by an independent writer: tcpdump, on a veth pair inside
// namespaces this test creates. `-i any` (Linux cooked, as `overlay-ipsec verify` would capture)
// and a single interface (Ethernet). The frames are real kernel packets: UDP 4500 datagrams of the
// three RFC 3948 kinds and pings; our codecs must find, parse, verify and classify each.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NetnsLab, waitFor } from '../helpers/netns.js';
import {
  ipv4OffsetInFrame, readPcapFile, LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, type PcapCapture,
} from '../../src/wire/pcap.js';
import { parseIpv4Header, IPPROTO_ICMP, IPPROTO_UDP, type Ipv4Header } from '../../src/wire/ipv4.js';
import { formatIpv4 } from '../../src/wire/address.js';
import { parseUdpHeader, isOffloadPartialUdpChecksum, type UdpHeader } from '../../src/wire/udp.js';
import { classifyUdpEncap } from '../../src/wire/udp-encap.js';
import { internetChecksum } from '../../src/wire/checksum.js';

const lab = new NetnsLab('wirepcap');
const dir = mkdtempSync(path.join(tmpdir(), 'wire-tcpdump-'));
after(async () => {
  await lab.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

// Sends the three kinds of UDP-4500 datagram from 10.99.0.1 to 10.99.0.2 (IKE header: RFC 7296 §3.1).
const SENDER = `
const s = require('node:dgram').createSocket('udp4');
const ike = Buffer.alloc(28); ike.fill(7, 0, 8); ike[17] = 0x20; ike[18] = 34; ike[19] = 8; ike.writeUInt32BE(28, 24);
const esp = Buffer.alloc(60, 0x5a); esp.writeUInt32BE(0xc0ffee01, 0); esp.writeUInt32BE(1, 4);
const msgs = [Buffer.from([0xff]), Buffer.concat([Buffer.alloc(4), ike]), esp];
s.bind(4500, '10.99.0.1', () => {
  let i = 0;
  const next = () => i < msgs.length ? s.send(msgs[i++], 4500, '10.99.0.2', next) : s.close();
  next();
});`;

function ok<T>(r: T | string, what: string): T {
  if (typeof r === 'string') assert.fail(`${what}: ${r}`);
  return r;
}

/** Checks a capture; returns how many UDP checksums were offload-partial. */
function check(c: PcapCapture, what: string): number {
  const kinds: string[] = [];
  let icmp = 0;
  let partial = 0;
  let unreachable = 0;
  for (const p of c.packets) {
    const off = ipv4OffsetInFrame(c.linkType, p.data);
    if (off < 0) continue; // ARP, IPv6 neighbour discovery
    const ip = ok<Ipv4Header>(parseIpv4Header(p.data, off, p.data.length - off), `${what}: IPv4`);
    if (ip.protocol === IPPROTO_UDP) {
      let r = parseUdpHeader(p.data, ip.payloadOffset, ip.payloadLength, ip.src, ip.dst);
      if (r === 'bad_checksum') {
        // Captured before the checksum was completed (offload; veth passes it on unfinished): the
        // field must then hold exactly the pseudo-header sum, anything else is real damage.
        assert.ok(isOffloadPartialUdpChecksum(p.data, ip.payloadOffset, ip.src, ip.dst), `${what}: UDP checksum neither valid nor offload-partial`);
        partial++;
        r = parseUdpHeader(p.data, ip.payloadOffset, ip.payloadLength);
      }
      const udp = ok<UdpHeader>(r, `${what}: UDP`);
      assert.equal(udp.dstPort, 4500);
      assert.deepEqual([formatIpv4(ip.src), formatIpv4(ip.dst)], ['10.99.0.1', '10.99.0.2']);
      const k = classifyUdpEncap(p.data, udp.payloadOffset, udp.payloadLength);
      kinds.push(k.kind === 'esp' ? `esp:${k.spi.toString(16)}` : k.kind);
    } else if (ip.protocol === IPPROTO_ICMP) {
      assert.equal(internetChecksum(p.data, ip.payloadOffset, ip.payloadLength), 0, `${what}: ICMP checksum`);
      const type = p.data[ip.payloadOffset]!;
      if (type === 8 || type === 0) icmp++;
      else if (type === 3) unreachable++; // 10.99.0.2 has no socket on 4500: port unreachable
    }
  }
  assert.deepEqual(kinds, ['keepalive', 'ike', 'esp:c0ffee01'], `${what}: UDP 4500 datagrams in order`);
  assert.equal(icmp, 4, `${what}: two echo requests and two replies`);
  assert.equal(unreachable, 3, `${what}: one port unreachable per datagram`);
  return partial;
}

test('tcpdump captures (cooked "any" and Ethernet) read, parsed and classified by our codecs', async () => {
  const a = lab.addNs('a');
  const b = lab.addNs('b');
  lab.veth(a, 'wp0', '10.99.0.1/24', b, 'wp1', '10.99.0.2/24');
  const anyFile = path.join(dir, 'any.pcap');
  const ethFile = path.join(dir, 'eth.pcap');
  const dumps = [
    lab.spawn(a, ['tcpdump', '-n', '-U', '--immediate-mode', '-i', 'any', '-w', anyFile, 'udp port 4500 or icmp']),
    lab.spawn(a, ['tcpdump', '-n', '-U', '--immediate-mode', '-i', 'wp0', '-w', ethFile, 'udp port 4500 or icmp']),
  ];
  const ready = dumps.map(() => false);
  dumps.forEach((d, i) => d.stderr!.on('data', (chunk: Buffer) => {
    if (chunk.toString().includes('listening on')) ready[i] = true;
  }));
  await waitFor(() => ready.every(Boolean), 'tcpdump to listen');
  lab.exec(a, [process.execPath, '-e', SENDER]);
  lab.exec(a, ['ping', '-c', '2', '-i', '0.2', '10.99.0.2']);
  await waitFor(() => statSync(ethFile).size > 24 * 2 + 400 && statSync(anyFile).size > 24 * 2 + 400, 'packets in both captures');
  await new Promise((r) => setTimeout(r, 300));
  for (const d of dumps) await lab.stop(d);

  const any = ok<PcapCapture>(readPcapFile(anyFile), 'any.pcap');
  assert.ok(any.linkType === LINKTYPE_LINUX_SLL || any.linkType === LINKTYPE_LINUX_SLL2, `cooked link type, got ${any.linkType}`);
  check(any, `tcpdump -i any (link type ${any.linkType})`);
  const eth = ok<PcapCapture>(readPcapFile(ethFile), 'eth.pcap');
  assert.equal(eth.linkType, LINKTYPE_ETHERNET);
  check(eth, 'tcpdump -i wp0');
});
