import { randomBytes } from 'node:crypto';
import { EspDataPath, type ChildSpec } from '../../../src/esp/datapath.js';
import { cidrSelector } from '../../../src/wire/traffic-selector.js';
import { EspGcm } from '../../../src/crypto/aes-gcm.js';
import { classifyUdpEncap, newUdpEncapClass } from '../../../src/wire/udp-encap.js';
import { buildIpv4UdpPacket } from '../../../src/wire/udp.js';
import { parseIpv4 } from '../../../src/wire/address.js';
import type { FuzzTarget, Harness } from '../target.js';

const LOCAL = '198.18.0.2';
const REMOTE = '198.18.0.1';
const SPI_TUNNEL = 0x1001;
const SPI_TRANSPORT = 0x3003;

/**
 * UDP 4500 as ipsecd receives it: the RFC 3948 demux (keepalive / non-ESP marker / ESP) and then
 * the ESP data path with a tunnel-mode and a transport-mode SA installed. The first input byte
 * picks: bit 0 clear, the rest is the raw UDP payload; set, the rest is [seq(4) ‖ plaintext]
 * sealed with the real key of the SA bit 1 names, so mutations reach the trailer, the inner IPv4
 * checks and the selectors behind the ICV. Each datagram must land in exactly one counter.
 */
export const espUdp4500: FuzzTarget = {
  name: 'esp-udp4500',
  what: 'UDP 4500 demux (wire/udp-encap) + EspDataPath.onUdpEsp (ESP framing, replay, AEAD, trailer, inner packet, policy)',
  corpusDirs: ['esp', 'udp4500'],
  corpusPrefixes: [0],
  create(): Harness {
    const tun: Buffer[] = [];
    let delivered = 0;
    const dp = new EspDataPath({
      tun: { write: (ps) => { delivered += ps.length; if (tun.length < 4) tun.push(...ps); } },
      udp: { send: () => {} },
      now: () => 1_700_000_000_000,
    });
    const keyT = randomBytes(36);
    const keyX = randomBytes(36);
    const base = { local: LOCAL, remote: REMOTE, remotePort: 4500, keyOut: randomBytes(36), replayWindow: 64 } as const;
    const tunnel: ChildSpec = { ...base, name: 't', mode: 'tunnel', localTs: [cidrSelector('10.2.0.0/24')], remoteTs: [cidrSelector('10.1.0.0/24')], spiIn: SPI_TUNNEL, spiOut: 0x2002, keyIn: keyT };
    const transport: ChildSpec = { ...base, name: 'x', mode: 'transport', localTs: [cidrSelector(`${LOCAL}/32`, 17)], remoteTs: [cidrSelector(`${REMOTE}/32`, 17)], spiIn: SPI_TRANSPORT, spiOut: 0x4004, keyIn: keyX, keyOut: randomBytes(36) };
    dp.installChild(tunnel);
    dp.installChild(transport);
    const cls = newUdpEncapClass();
    let demuxMalformed = 0;
    let keepalives = 0;
    let ike = 0;

    const inner = buildIpv4UdpPacket({ src: parseIpv4('10.1.0.5')!, dst: parseIpv4('10.2.0.7')!, srcPort: 4000, dstPort: 5000, ttl: 64 }, Buffer.from('pod to pod'));
    const geneveUdp = buildIpv4UdpPacket({ src: parseIpv4(REMOTE)!, dst: parseIpv4(LOCAL)!, srcPort: 50000, dstPort: 6081, ttl: 64 }, Buffer.alloc(60, 7)).subarray(20);
    const plain = (payload: Buffer, nh: number): Buffer => {
      const padLen = (4 - ((payload.length + 2) % 4)) % 4;
      return Buffer.concat([payload, Buffer.from(Array.from({ length: padLen }, (_, i) => i + 1)), Buffer.from([padLen, nh])]);
    };
    const sealedSeed = (transportMode: boolean, seq: number, pt: Buffer): Buffer => {
      const h = Buffer.alloc(5);
      h[0] = transportMode ? 0b11 : 0b01;
      h.writeUInt32BE(seq, 1);
      return Buffer.concat([h, pt]);
    };
    const seeds = [
      sealedSeed(false, 1, plain(inner, 4)),
      sealedSeed(false, 2, plain(inner, 59)),
      sealedSeed(true, 1, plain(geneveUdp, 17)),
    ];
    let seqHint = 100;

    const seal = (spi: number, key: Buffer, seq: number, pt: Buffer): Buffer => {
      const out = Buffer.alloc(16 + pt.length + 16);
      out.writeUInt32BE(spi, 0);
      out.writeUInt32BE(seq >>> 0, 4);
      randomBytes(8).copy(out, 8);
      new EspGcm(key).seal(out.subarray(8, 16), out.subarray(0, 8), pt, out, 16);
      return out;
    };

    return {
      seeds: () => seeds,
      run(input) {
        if (input.length === 0) return 'empty-input';
        // A copy: the data path opens ESP in place, and the input may be a seed used again.
        let dg: Buffer = Buffer.from(input.subarray(1));
        if (input[0]! & 1 && dg.length >= 4) {
          const transportMode = (input[0]! & 2) !== 0;
          // Mostly fresh sequence numbers (so the packet is not a replay), sometimes the mutated one.
          const seq = input[0]! & 4 ? dg.readUInt32BE(0) : ++seqHint;
          dg = seal(transportMode ? SPI_TRANSPORT : SPI_TUNNEL, transportMode ? keyX : keyT, seq, dg.subarray(4));
        }
        const before = dp.status();
        const dBefore = delivered;
        classifyUdpEncap(dg, 0, dg.length, cls);
        let demux: string | undefined;
        switch (cls.kind) {
          case 'keepalive': keepalives++; demux = 'keepalive'; break;
          case 'ike': ike++; demux = 'ike'; break;
          case 'esp': dp.onUdpEsp(dg, 0, dg.length, { address: REMOTE, port: 4500 }); break;
          case 'malformed':
            // as ipsecd does: a too-short ESP packet still goes to its SA's counters
            if (cls.cause === 'esp_truncated') dp.onUdpEsp(dg, 0, dg.length, { address: REMOTE, port: 4500 });
            else { demuxMalformed++; demux = `demux:${cls.cause}`; }
        }
        const after = dp.status();
        const moved = (Object.keys(after.drops) as (keyof typeof after.drops)[]).filter((k) => after.drops[k] !== before.drops[k]);
        const outcomes = moved.length + (delivered !== dBefore ? 1 : 0) + (after.dummy_in !== before.dummy_in ? 1 : 0) + (demux ? 1 : 0);
        if (outcomes !== 1 || (moved.length === 1 && after.drops[moved[0]!] !== before.drops[moved[0]!] + 1)) {
          throw new Error(`datagram counted ${outcomes} times: drops ${JSON.stringify(moved)}, delivered ${delivered - dBefore}, demux ${demux}`);
        }
        if (demux) return demux;
        if (delivered !== dBefore) return 'accepted:delivered';
        if (after.dummy_in !== before.dummy_in) return 'accepted:dummy';
        return moved[0]!;
      },
      check() {
        const st = dp.status();
        // The data path holds the two SAs it was given and nothing per packet.
        const sas = st.children.reduce((n, c) => n + c.sas.length, 0);
        if (st.children.length !== 2 || sas !== 2) throw new Error(`data path holds ${st.children.length} children, ${sas} SAs`);
      },
      sizes: () => ({ demux_malformed: demuxMalformed, keepalives, ike }),
    };
  },
};
