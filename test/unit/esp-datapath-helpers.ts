// Shared fixture for the data path tests: two EspDataPaths ("a" and "b") with mirrored children,
// writers that record what they were handed, and an injected clock.
import { randomBytes } from 'node:crypto';
import { EspDataPath, type ChildSpec, type EspEvent } from '../../src/esp/datapath.js';
import { cidrSelector } from '../../src/wire/traffic-selector.js';
import type { EspMode } from '../../src/esp/types.js';
import { buildIpv4UdpPacket } from '../../src/wire/udp.js';
import { parseIpv4 } from '../../src/wire/address.js';

export const ADDR_A = '198.18.0.1';
export const ADDR_B = '198.18.0.2';

export interface Sent { datagram: Buffer; port: number; address: string }

export class Host {
  readonly tun: Buffer[] = [];
  readonly sent: Sent[] = [];
  readonly events: EspEvent[] = [];
  readonly dp: EspDataPath;
  constructor(clock: { now: number }) {
    this.dp = new EspDataPath({
      tun: { write: (packets) => { for (const p of packets) this.tun.push(p); } },
      udp: { send: (d, length, port, address) => { this.sent.push({ datagram: d.subarray(0, length), port, address }); } },
      now: () => clock.now,
      onEvent: (e) => this.events.push(e),
    });
  }
  /** Hands every datagram this host sent to `peer` (as the 4500 demux would), then forgets them. */
  deliverTo(peer: Host): void {
    for (const s of this.sent.splice(0)) peer.dp.onUdpEsp(s.datagram, 0, s.datagram.length, { address: ADDR_A, port: 4500 });
  }
}

export interface PairKeys { spiAB: number; spiBA: number; keyAB: Buffer; keyBA: Buffer }

export function newKeys(spiAB = 0x1001, spiBA = 0x2002, keyLength = 36): PairKeys {
  return { spiAB, spiBA, keyAB: randomBytes(keyLength), keyBA: randomBytes(keyLength) };
}

/** Specs for both sides. Tunnel: 10.1.0.0/24 (a) ↔ 10.2.0.0/24 (b). Transport: a ↔ b, UDP only. */
export function specs(mode: EspMode, k: PairKeys, extra: Partial<ChildSpec> = {}): { a: ChildSpec; b: ChildSpec } {
  const tsA = mode === 'tunnel' ? [cidrSelector('10.1.0.0/24')] : [cidrSelector(`${ADDR_A}/32`, 17)];
  const tsB = mode === 'tunnel' ? [cidrSelector('10.2.0.0/24')] : [cidrSelector(`${ADDR_B}/32`, 17)];
  const a: ChildSpec = {
    name: 'c1', mode, local: ADDR_A, remote: ADDR_B, remotePort: 4500, localTs: tsA, remoteTs: tsB,
    spiIn: k.spiBA, spiOut: k.spiAB, keyIn: k.keyBA, keyOut: k.keyAB, ...extra,
  };
  const b: ChildSpec = {
    name: 'c1', mode, local: ADDR_B, remote: ADDR_A, remotePort: 4500, localTs: tsB, remoteTs: tsA,
    spiIn: k.spiAB, spiOut: k.spiBA, keyIn: k.keyAB, keyOut: k.keyBA, ...extra,
  };
  return { a, b };
}

export function lab(mode: EspMode, extra: Partial<ChildSpec> = {}, k: PairKeys = newKeys()) {
  const clock = { now: 1_700_000_000_000 };
  const a = new Host(clock);
  const b = new Host(clock);
  const s = specs(mode, k, extra);
  a.dp.installChild(s.a);
  b.dp.installChild(s.b);
  return { clock, a, b, keys: k, specs: s };
}

export function udpPacket(src: string, dst: string, srcPort: number, dstPort: number, payload: Buffer | number): Buffer {
  const body = typeof payload === 'number' ? randomBytes(payload) : payload;
  return buildIpv4UdpPacket({ src: parseIpv4(src)!, dst: parseIpv4(dst)!, srcPort, dstPort, ttl: 64 }, body);
}
