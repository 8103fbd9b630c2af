/**
 * Builds test/fixtures/fuzz from real captures and a real operator's store (run by hand, not by
 * the suite; see test/fixtures/fuzz/README.md):
 *
 *   OI_CAPTURE_DIR=/tmp/cap flock /tmp/oi-netns.lock node --test dist/test/interop/… (the capture)
 *   node dist/test/fuzz/build-corpus.js /tmp/cap
 *
 * Each UDP datagram of the captures is filed by kind (IKE message, ESP packet, UDP 4500 payload,
 * IPv4 packet) under a name that says which pair of implementations exchanged it; duplicates and
 * IP fragments are skipped and each source is capped so one bulk transfer does not drown the rest.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, readdir } from 'node:fs';
import path from 'node:path';
import { parsePcap, ipv4OffsetInFrame } from '../../src/wire/pcap.js';
import { parseIpv4Header, isIpv4Fragment, IPPROTO_UDP } from '../../src/wire/ipv4.js';
import { parseUdpHeader, isOffloadPartialUdpChecksum } from '../../src/wire/udp.js';
import { classifyUdpEncap } from '../../src/wire/udp-encap.js';
import { FUZZ_FIXTURES } from './target.js';
import { startOperator } from '../unit/operator-harness.js';
import { enroll } from '../../src/pki/enroll.js';
import { storeDir } from '../../src/store/index.js';

/** Capture file prefix (the NetnsLab prefix and veth) → who talked, and which test made them talk. */
const SOURCES: Record<string, { name: string; from: string }> = {
  'oit-sw-': { name: 'strongswan-strongswan', from: 'test/interop/strongswan-harness.test.ts: two charons 5.9.8 (kernel-libipsec), certificates and PSK on 4500, ping, CHILD and IKE rekey, delete' },
  'oit-ls-': { name: 'pluto-strongswan', from: 'test/interop/libreswan-harness.test.ts: libreswan 4.10 pluto and strongSwan 5.9.8, PSK and ECDSA, IKE rekey, delete' },
  'oit-ikel-': { name: 'ours-pluto', from: 'test/interop/ike-libreswan-core.test.ts: our engine and pluto 4.10, ECDSA and RSA, IKE rekey both ways, delete' },
  'oit-ike-': { name: 'ours-strongswan', from: 'test/interop/ike-strongswan-core.test.ts: our engine and charon 5.9.8, PSK/ECDSA/RSA, all DH groups, rekeys, fragmentation at 576' },
  'oit-ik-': { name: 'ipsecd-strongswan', from: 'test/interop/ipsecd-strongswan.test.ts: ipsecd and charon 5.9.8, IKE and tunnel-mode ESP-in-UDP with traffic' },
  'oit-esp-': { name: 'ipsecd-ipsecd', from: 'test/netns/ipsecd-transport.test.ts: two ipsecd, transport-mode ESP-in-UDP carrying Geneve' },
  'oir-imp-': { name: 'pluto-impair', from: 'test/reliability/libreswan-impair.test.ts: pluto 4.10 with --impair faults (empty/zero KE, version bumps, reserved bits, bogus cookie, duplicates) against our engine' },
};
const CAP = { ike: 60, esp: 16, udp4500: 12, ipv4: 12 };

function sourceOf(file: string): { name: string; from: string } | undefined {
  const base = path.basename(file);
  return Object.entries(SOURCES).sort((a, b) => b[0].length - a[0].length).find(([p]) => base.startsWith(p))?.[1];
}

function main(captureDir: string): void {
  mkdirSync(FUZZ_FIXTURES, { recursive: true });
  const manifest: Record<string, { source: string; capture: string; from: string }> = {};
  for (const kind of Object.keys(CAP)) rmSync(path.join(FUZZ_FIXTURES, kind), { recursive: true, force: true });
  const seen = new Set<string>();
  const counts = new Map<string, number>();
  const put = (kind: keyof typeof CAP, src: { name: string; from: string }, capture: string, bytes: Buffer): void => {
    const h = createHash('sha256').update(kind).update(bytes).digest('hex');
    if (seen.has(h)) return;
    const k = `${kind}/${src.name}`;
    const n = counts.get(k) ?? 0;
    if (n >= CAP[kind]) return;
    seen.add(h);
    counts.set(k, n + 1);
    const dir = path.join(FUZZ_FIXTURES, kind);
    mkdirSync(dir, { recursive: true });
    const file = `${src.name}-${String(n).padStart(3, '0')}.bin`;
    writeFileSync(path.join(dir, file), bytes);
    manifest[`${kind}/${file}`] = { source: src.name, capture, from: src.from };
  };
  for (const f of readdirSync(captureDir).filter((x) => x.endsWith('.pcap')).sort()) {
    const src = sourceOf(f);
    if (!src) continue;
    const cap = parsePcap(readFileSync(path.join(captureDir, f)));
    if (typeof cap === 'string') continue;
    for (const p of cap.packets) {
      const off = ipv4OffsetInFrame(cap.linkType, p.data);
      if (off < 0) continue;
      const ip = parseIpv4Header(p.data, off, p.data.length - off, true);
      if (typeof ip === 'string' || ip.protocol !== IPPROTO_UDP || isIpv4Fragment(ip)) continue;
      // Captured on the sending side, UDP checksums are often offload placeholders: not checked here.
      const udp = parseUdpHeader(p.data, ip.payloadOffset, ip.payloadLength);
      if (typeof udp === 'string') continue;
      const payload = Buffer.from(p.data.subarray(udp.payloadOffset, udp.payloadOffset + udp.payloadLength));
      const packet = Buffer.from(p.data.subarray(off, off + ip.totalLength));
      // …and in the IPv4 corpus a placeholder becomes "no checksum" (0, valid for UDP over IPv4).
      if (isOffloadPartialUdpChecksum(p.data, ip.payloadOffset, ip.src, ip.dst)) packet.writeUInt16BE(0, ip.payloadOffset - off + 6);
      const ports = [udp.srcPort, udp.dstPort];
      if (ports.includes(500) && !ports.includes(4500)) {
        put('ike', src, f, payload);
        put('ipv4', src, f, packet);
      } else if (ports.includes(4500)) {
        put('udp4500', src, f, payload);
        const c = classifyUdpEncap(payload, 0, payload.length);
        if (c.kind === 'ike') put('ike', src, f, payload.subarray(4));
        else if (c.kind === 'esp') {
          put('esp', src, f, payload);
          put('ipv4', src, f, packet);
        }
      }
    }
  }
  writeFileSync(path.join(FUZZ_FIXTURES, 'captures.json'), JSON.stringify(manifest, null, 1) + '\n');
  console.log(Object.fromEntries(counts));
}

/** Store documents as a real operator and two enrolling nodes write them. */
async function storeCorpus(): Promise<void> {
  const out = path.join(FUZZ_FIXTURES, 'store');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const h = await startOperator({ tickMs: 50 });
  try {
    for (const node of ['master0', 'worker0']) await enroll({ store: h.store, stateDir: h.stateDir, node, keyAlgorithm: 'ecdsa', timeoutMs: 30_000 });
    const root = storeDir(h.stateDir);
    for (const c of readdirSync(root)) {
      for (const f of await new Promise<string[]>((res, rej) => readdir(path.join(root, c), (e, l) => (e ? rej(e) : res(l))))) {
        if (!f.endsWith('.json')) continue;
        writeFileSync(path.join(out, `${c}--${f}`), readFileSync(path.join(root, c, f)));
      }
    }
  } finally {
    await h.done();
  }
}

const dir = process.argv[2];
if (!dir) {
  console.error('usage: build-corpus CAPTURE_DIR');
  process.exit(2);
}
main(dir);
await storeCorpus();
