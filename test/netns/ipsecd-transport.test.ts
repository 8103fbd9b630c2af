import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { IpsecdLab, manualConn, newKeys, A, B, type Daemon } from './ipsecd-lab.js';
import { tsharkRecords, ESP_DECRYPT_PREFS } from '../helpers/tshark.js';
import { repoRoot } from '../helpers/paths.js';
import { waitFor } from '../helpers/netns.js';

// Transport mode between the two hosts' own addresses, laid out as the seed's OVN connections:
// "-out" protects our packets to the peer's Geneve port 6081, "-in" the peer's packets to ours.
// Geneve frames (built with wire/geneve) go A → B:6081 and are echoed back; the policy routes
// send only that UDP flow into the TUN, so the daemons' own UDP 4500 never loops.

const FRAMES = 20;
const VNI = 7;
let L: IpsecdLab;
let da: Daemon;
let db: Daemon;
let pcap: string;
let echoes: { sent: number; received: number; sameBytes: boolean };

const wire = (f: string): string => path.join(repoRoot, 'dist', 'src', 'wire', f);

/** B: echo every datagram on 198.18.0.2:6081 back to its sender. */
const ECHO = `
import dgram from 'node:dgram';
const s = dgram.createSocket('udp4');
s.on('message', (m, r) => s.send(m, r.port, r.address));
s.bind(6081, '${B.underlay}', () => process.stdout.write('ready\\n'));
`;

/** A: send Geneve frames (OVN option, inner Ethernet/IPv4/UDP) to B:6081, count the echoes. */
const SENDER = `
import dgram from 'node:dgram';
import { writeGeneveHeader, geneveHeaderLength, OVN_OPTION_CLASS, OVN_OPTION_TYPE } from '${wire('geneve.js')}';
import { writeEthernetHeader, ETHERTYPE_IPV4 } from '${wire('ethernet.js')}';
import { buildIpv4UdpPacket } from '${wire('udp.js')}';
const opts = [{ optionClass: OVN_OPTION_CLASS, type: OVN_OPTION_TYPE, data: Buffer.from([0, 1, 0, 2]) }];
const frames = [];
for (let i = 0; i < ${FRAMES}; i++) {
  const inner = buildIpv4UdpPacket({ src: 0x0afe0102, dst: 0x0afe0202, ttl: 64, identification: i, srcPort: 40000 + i, dstPort: 8080 }, Buffer.from('pod payload ' + i));
  const hl = geneveHeaderLength(opts);
  const f = Buffer.alloc(hl + 14 + inner.length);
  writeGeneveHeader(f, 0, { vni: ${VNI}, options: opts });
  writeEthernetHeader(f, hl, 0x0a5800000002, 0x0a5800000001, ETHERTYPE_IPV4);
  inner.copy(f, hl + 14);
  frames.push(f);
}
const s = dgram.createSocket('udp4');
const got = [];
s.on('message', (m) => got.push(m));
s.bind(0, '${A.underlay}', async () => {
  for (const f of frames) { s.send(f, 6081, '${B.underlay}'); await new Promise((r) => setTimeout(r, 20)); }
  const end = Date.now() + 5000;
  while (got.length < frames.length && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  const same = got.length === frames.length && got.every((g) => frames.some((f) => f.equals(g)));
  process.stdout.write(JSON.stringify({ sent: frames.length, received: got.length, sameBytes: same }) + '\\n');
  s.close();
});
`;

before(async () => {
  L = new IpsecdLab('oit-esp');
  const out = newKeys(0x00003001, 0x00003002); // A:any → B:6081 and its replies
  const back = newKeys(0x00004001, 0x00004002); // A:6081 ↔ B:any
  const cfgA = manualConn('geneve-out', 'a', 'transport', out, ['dynamic[udp]'], ['dynamic[udp/6081]'])
    + manualConn('geneve-in', 'a', 'transport', back, ['dynamic[udp/6081]'], ['dynamic[udp]']);
  const cfgB = manualConn('geneve-in', 'b', 'transport', out, ['dynamic[udp/6081]'], ['dynamic[udp]'])
    + manualConn('geneve-out', 'b', 'transport', back, ['dynamic[udp]'], ['dynamic[udp/6081]']);
  da = await L.startDaemon('a', L.writeConfig('a', cfgA));
  db = await L.startDaemon('b', L.writeConfig('b', cfgB));
  pcap = path.join(L.dir, 'transport.pcap');
  const cap = await L.capture(L.a, A.veth, pcap);
  const echo = L.lab.spawn(L.b, [process.execPath, '--input-type=module', '-e', ECHO]);
  let ready = '';
  echo.stdout?.on('data', (d: Buffer) => { ready += d.toString(); });
  await waitFor(() => ready.includes('ready'), 'echo server on B:6081');
  const r = L.lab.exec(L.a, [process.execPath, '--input-type=module', '-e', SENDER], { timeoutMs: 30_000 });
  echoes = JSON.parse(r.stdout) as typeof echoes;
  await L.stopCapture(cap, pcap);
});

after(async () => {
  await L?.cleanup();
});

test('Geneve frames to UDP 6081 pass both ways in transport mode, byte for byte', async () => {
  assert.deepEqual(echoes, { sent: FRAMES, received: FRAMES, sameBytes: true });
  const st = await L.status(da);
  const out = st.ike_sas.find((s) => s.name === 'geneve-out')!.children[0]!;
  assert.equal(out.mode, 'transport');
  assert.equal(out.packets_out, FRAMES);
  assert.equal(out.packets_in, FRAMES);
  assert.deepEqual(st.drops, { auth_failed: 0, replay: 0, unknown_spi: 0, malformed: 0, policy: 0, lifetime: 0 });
});

test('policy routing sends only the protected UDP flow into the TUN', () => {
  const rules = L.lab.exec(L.a, ['ip', 'rule']).stdout;
  assert.match(rules, /to 198\.18\.0\.2 ipproto udp dport 6081 lookup 2200/);
  assert.match(rules, /to 198\.18\.0\.2 ipproto udp sport 6081 lookup 2200/);
  assert.match(rules, /to 198\.18\.0\.2 ipproto udp sport 4500 lookup main/);
  // Other traffic to the peer (ping) stays on the underlay in the clear: it is not selected.
  const route = L.lab.exec(L.a, ['ip', 'route', 'get', B.underlay, 'ipproto', 'udp', 'dport', '6081']).stdout;
  assert.match(route, /dev oi0/);
  const plain = L.lab.exec(L.a, ['ip', 'route', 'get', B.underlay, 'ipproto', 'udp', 'sport', '4500', 'dport', '4500']).stdout;
  assert.match(plain, new RegExp(`dev ${A.veth}`));
});

test('the link shows only UDP 4500; tshark decrypts every ESP packet and finds the inner Geneve frame', (t) => {
  const all = tsharkRecords(pcap, { fields: ['frame.protocols', 'udp.srcport', 'udp.dstport'] });
  const other = all.filter((r) => !(r['frame.protocols'] === 'eth:ethertype:arp'
    || (r['udp.srcport'] === '4500' && r['udp.dstport'] === '4500')));
  assert.deepEqual(other, []);
  const rows = tsharkRecords(pcap, {
    keylogDir: da.keylog, prefs: ESP_DECRYPT_PREFS, filter: 'esp',
    fields: ['esp.spi', 'esp.icv_good', 'udp.dstport', 'geneve.vni', 'geneve.proto_type', 'ip.dst'],
  });
  t.diagnostic(`capture: ${all.length} frames; tshark: ${rows.length} ESP packets, ${rows.filter((r) => r['esp.icv_good'] === '1').length} icv_good, ${rows.filter((r) => r['geneve.vni'] !== '').length} with an inner Geneve frame`);
  assert.equal(rows.length, 2 * FRAMES, JSON.stringify(rows.slice(0, 3)));
  assert.deepEqual(rows.filter((r) => r['esp.icv_good'] !== '1'), []);
  assert.equal(rows.filter((r) => r['esp.spi'] === '0x00003001' && r['udp.dstport'] === '4500,6081,8080').length, FRAMES, JSON.stringify(rows.slice(0, 3)));
  assert.equal(rows.filter((r) => r['esp.spi'] === '0x00003002').length, FRAMES);
  for (const r of rows) {
    assert.equal(r['geneve.vni'], '0x000007');
    assert.equal(r['geneve.proto_type'], '0x6558');
    // One IP header (transport mode), then ESP → UDP 6081 → Geneve → Ethernet → the pod IPv4/UDP.
    assert.match(r['ip.dst']!, /^198\.18\.0\.[12],10\.254\.2\.2$/);
  }
});
