import { OverlayEngine, type LocalSpec } from '../../../src/overlay/engine.js';
import { parseIpv4Header, newIpv4Header, IPPROTO_UDP } from '../../../src/wire/ipv4.js';
import { parseIpv4 } from '../../../src/wire/address.js';
import { parseUdpHeader, newUdpHeader, buildIpv4UdpPacket } from '../../../src/wire/udp.js';
import { parseGeneveHeader, understandsOvnOption, newGeneveHeader } from '../../../src/wire/geneve.js';
import type { FuzzTarget, Harness } from '../target.js';

const LOCAL: LocalSpec = { node: 'master0', systemId: 'ab2a7c11-1111-4111-8111-111111111111', underlay: '192.168.7.21', subnet: '10.254.0.0/24', vni: 1 };
const PEER: LocalSpec = { node: 'worker0', systemId: '04e0df22-2222-4222-8222-222222222222', underlay: '192.168.7.11', subnet: '10.254.3.0/24', vni: 4 };
const asPeer = (l: LocalSpec) => ({ node: l.node, systemId: l.systemId, underlay: l.underlay, subnet: l.subnet, vni: l.vni });

/** Pod packets the peer's overlay encapsulates toward us: our own encoder's output as seeds. */
function geneveSeeds(): Buffer[] {
  const peer = new OverlayEngine({ local: PEER, peers: [asPeer(LOCAL)] });
  const out: Buffer[] = [];
  for (const [len, proto] of [[0, 17], [64, 17], [1200, 17], [40, 1], [20, 6]] as const) {
    const pod = buildIpv4UdpPacket({ src: parseIpv4('10.254.3.5')!, dst: parseIpv4('10.254.0.9')!, srcPort: 1234, dstPort: 80, ttl: 64 }, Buffer.alloc(len, 0x61));
    pod[9] = proto;
    const pkt = peer.encapsulate(pod);
    if (pkt) out.push(pkt);
  }
  return out;
}

/**
 * The overlay's inbound path: whole IPv4(UDP 6081(Geneve(Ethernet(IPv4)))) packets as the ESP
 * layer hands them over (first byte's bit 0 set) or Geneve UDP payloads from the peer's address
 * (the plain path). Every packet is delivered or counted under one inbound drop cause.
 */
export const geneve: FuzzTarget = {
  name: 'geneve',
  what: 'OverlayEngine.decapsulateIpv4 / decapsulateUdp (outer IPv4/UDP, Geneve header and options, inner Ethernet/IPv4, subnets)',
  corpusDirs: [],
  create(): Harness {
    const eng = new OverlayEngine({ local: LOCAL, peers: [asPeer(PEER)] });
    const peerAddr = parseIpv4(PEER.underlay)!;
    const whole = geneveSeeds();
    const seeds = [...whole.map((p) => Buffer.concat([Buffer.from([1]), p])), ...whole.map((p) => Buffer.concat([Buffer.from([0]), p.subarray(28)]))];
    return {
      seeds: () => seeds,
      run(input) {
        if (input.length === 0) return 'empty-input';
        const before = eng.status().drops.inbound;
        const body = input.subarray(1);
        const r = input[0]! & 1 ? eng.decapsulateIpv4(body) : eng.decapsulateUdp(peerAddr, body);
        const after = eng.status().drops.inbound;
        const moved = (Object.keys(after) as (keyof typeof after)[]).filter((k) => after[k] !== before[k]);
        if ((r ? 1 : 0) + moved.length !== 1) throw new Error(`packet counted ${(r ? 1 : 0) + moved.length} times`);
        if (r && (r.length < 20 || r.byteOffset < body.byteOffset || r.byteOffset + r.length > body.byteOffset + body.length)) {
          throw new Error('inner packet is not inside the datagram');
        }
        return r ? 'accepted:delivered' : moved[0]!;
      },
      check() {},
    };
  },
};

/** The IPv4 and UDP header parsers every received packet meets first (and `verify` on captures). */
export const ipv4Udp: FuzzTarget = {
  name: 'ipv4-udp',
  what: 'wire/ipv4 parseIpv4Header (checksum verified) + wire/udp parseUdpHeader (pseudo-header checksum) + wire/geneve parseGeneveHeader',
  corpusDirs: ['ipv4'],
  create(): Harness {
    const ip = newIpv4Header();
    const udp = newUdpHeader();
    const g = newGeneveHeader();
    return {
      seeds: () => geneveSeeds(),
      run(input) {
        const h = parseIpv4Header(input, 0, input.length, true, ip);
        if (typeof h === 'string') return `ipv4:${h}`;
        if (h.payloadOffset + h.payloadLength > input.length) throw new Error('IPv4 payload runs past the buffer');
        if (h.protocol !== IPPROTO_UDP) return 'accepted:ipv4-not-udp';
        const u = parseUdpHeader(input, h.payloadOffset, h.payloadLength, h.src, h.dst, udp);
        if (typeof u === 'string') return `udp:${u}`;
        if (u.payloadOffset + u.payloadLength > input.length) throw new Error('UDP payload runs past the buffer');
        if (u.dstPort !== 6081) return 'accepted:udp';
        const r = parseGeneveHeader(input, u.payloadOffset, u.payloadLength, understandsOvnOption, g);
        if (typeof r === 'string') return `geneve:${r}`;
        if (r.payloadOffset + r.payloadLength > input.length) throw new Error('Geneve payload runs past the buffer');
        return 'accepted:geneve';
      },
      check() {},
    };
  },
};
