// In-process ESP throughput: seal + open of 1400-byte IPv4 packets, single thread, no I/O.
// Two figures: the SA pair alone (transform + framing + replay) and the whole data path
// (SPD lookup, seal, "send", SAD lookup, open, policy check, "TUN write").
// Run: npx tsc -p . && node dist/bench/esp-throughput.js [seconds]
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { EspDataPath } from '../src/esp/datapath.js';
import { LifetimeLimits } from '../src/esp/lifetime.js';
import { InboundSa } from '../src/esp/sa-inbound.js';
import { OutboundSa } from '../src/esp/sa-outbound.js';
import { cidrSelector } from '../src/wire/traffic-selector.js';
import { espPacketLength, newEspPacketView, newEspTrailerView, parseEspPacket } from '../src/wire/esp.js';
import { buildIpv4UdpPacket } from '../src/wire/udp.js';
import { parseIpv4 } from '../src/wire/address.js';

const seconds = Number(process.argv[2] ?? 3);
const PACKET = 1400;
const inner = buildIpv4UdpPacket({ src: parseIpv4('10.1.0.5')!, dst: parseIpv4('10.2.0.7')!, srcPort: 1, dstPort: 2 }, randomBytes(PACKET - 28));

// On a shared machine wall time measures the neighbours too; CPU time of this process is the
// steadier figure, so both are printed.
let cpuStart = process.cpuUsage();

function startClock(): number {
  cpuStart = process.cpuUsage();
  return performance.now();
}

function report(name: string, packets: number, ms: number): void {
  const cpu = process.cpuUsage(cpuStart);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const pps = (packets / ms) * 1000;
  const cpuPps = (packets / cpuMs) * 1000;
  console.log(
    `${name}: ${packets} packets, wall ${ms.toFixed(0)} ms → ${Math.round(pps)} packets/s, ${((pps * PACKET) / 1e6).toFixed(1)} MB/s; ` +
      `CPU ${cpuMs.toFixed(0)} ms → ${Math.round(cpuPps)} packets/s, ${((cpuPps * PACKET) / 1e6).toFixed(1)} MB/s per core (${PACKET}-byte packets, seal + open)`,
  );
}

/** Baseline: node:crypto AES-256-GCM seal + open of the same bytes with nothing around it. */
function benchRawCrypto(): void {
  const key = randomBytes(32);
  const nonce = randomBytes(12);
  const aad = randomBytes(8);
  const end = performance.now() + seconds * 1000;
  const t0 = startClock();
  let n = 0;
  while (performance.now() < end) {
    for (let i = 0; i < 256; i++) {
      const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
      c.setAAD(aad);
      const ct = c.update(inner);
      c.final();
      const tag = c.getAuthTag();
      const d = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
      d.setAAD(aad);
      d.setAuthTag(tag);
      d.update(ct);
      d.final();
    }
    n += 256;
  }
  report('baseline: bare node:crypto AES-256-GCM', n, performance.now() - t0);
}

function benchSa(): void {
  const key = randomBytes(36);
  const limits = new LifetimeLimits(undefined, undefined);
  const out = new OutboundSa({ spi: 0x1001, key, limits });
  const inn = new InboundSa({ spi: 0x1001, key, limits, replayWindow: 1024 });
  const esp = Buffer.alloc(espPacketLength(PACKET));
  const plain = Buffer.alloc(esp.length);
  const view = newEspPacketView();
  const trailer = newEspTrailerView();
  const end = performance.now() + seconds * 1000;
  const t0 = startClock();
  let n = 0;
  while (performance.now() < end) {
    for (let i = 0; i < 256; i++) {
      const len = out.seal(inner, 0, PACKET, 4, esp, 0);
      if (parseEspPacket(esp, 0, len, view) !== null || inn.open(esp, view, plain, 0, trailer) !== null) throw new Error('open failed');
    }
    n += 256;
  }
  report('SA pair (transform + framing + replay)', n, performance.now() - t0);
}

function benchDataPath(): void {
  const kAB = randomBytes(36);
  const kBA = randomBytes(36);
  let delivered = 0;
  const b = new EspDataPath({ tun: { write: (p) => { delivered += p.length; } }, udp: { send: () => {} }, now: () => 0 });
  const a = new EspDataPath({
    tun: { write: () => {} },
    udp: { send: (d, len) => b.onUdpEsp(d, 0, len, { address: '198.18.0.1', port: 4500 }) },
    now: () => 0,
  });
  const tsA = [cidrSelector('10.1.0.0/24')];
  const tsB = [cidrSelector('10.2.0.0/24')];
  a.installChild({ name: 'c', mode: 'tunnel', local: '198.18.0.1', remote: '198.18.0.2', remotePort: 4500, localTs: tsA, remoteTs: tsB, spiIn: 0x2002, spiOut: 0x1001, keyIn: kBA, keyOut: kAB });
  b.installChild({ name: 'c', mode: 'tunnel', local: '198.18.0.2', remote: '198.18.0.1', remotePort: 4500, localTs: tsB, remoteTs: tsA, spiIn: 0x1001, spiOut: 0x2002, keyIn: kAB, keyOut: kBA });
  const batch = Array.from({ length: 32 }, () => inner);
  const end = performance.now() + seconds * 1000;
  const t0 = startClock();
  while (performance.now() < end) a.onTunPackets(batch);
  const ms = performance.now() - t0;
  if (b.status().drops.replay + b.status().drops.auth_failed > 0) throw new Error('drops in bench');
  report('data path A→B (SPD, seal, SAD, open, policy, batches of 32)', delivered, ms);
}

for (let round = 0; round < 2; round++) {
  benchRawCrypto();
  benchSa();
  benchDataPath();
}
