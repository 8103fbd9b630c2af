import { conn, pskAuth, Sim, type Node } from '../../unit/ike-sim.js';
import { Flag } from '../../../src/ike/constants.js';
import { templateOf } from './ike-sealing.js';

export const ADDR_A = '192.0.2.1';
export const ADDR_B = '192.0.2.2';

/**
 * Two engines with an IKE SA and a child, driven through the exchanges a cluster sees (child and
 * IKE rekeys, a second child, its delete, DPD), optionally over a small MTU so IKE_AUTH fragments.
 * Every protected message of the run is returned as a template (see ike-sealing) with the key
 * that opens it: the structure-aware seeds of the IKE targets.
 */
export function establishedPair(opts: { fragmentMtu?: number; maxHalfOpen?: number; exercise?: boolean } = {}): {
  sim: Sim; a: Node; b: Node; templates: { fromA: Buffer[]; fromB: Buffer[] };
} {
  const sim = new Sim();
  const big = (id: string, peer: string) => {
    const p = pskAuth('secret', id, peer);
    if (!opts.fragmentMtu) return p;
    // Large CERT payloads make IKE_AUTH exceed the MTU, as RSA chains do in a real cluster.
    return { ...p, sign: (...args: Parameters<typeof p.sign>) => ({ ...p.sign(...args), certs: [Buffer.alloc(1200, 1), Buffer.alloc(900, 2)] }) };
  };
  const extra = { dpdDelayMs: 30_000, ...(opts.fragmentMtu ? { fragmentMtu: opts.fragmentMtu } : {}) };
  const timers = { timers: { maxHalfOpen: opts.maxHalfOpen ?? 64, cookieThreshold: 8 } };
  const a = sim.add('fa', ADDR_A, [conn('site', ADDR_A, ADDR_B, extra, { espProposals: ['aes256gcm16-modp2048'] })], big('a.example', 'b.example'), timers);
  const b = sim.add('fb', ADDR_B, [conn('site', ADDR_B, ADDR_A, { ...extra, remoteAddrs: ['%any'] }, { localTs: ['10.2.0.0/24'], remoteTs: ['10.1.0.0/24'], espProposals: ['aes256gcm16-modp2048'] })], big('b.example', 'a.example'), timers);
  a.engine.initiate('site');
  sim.advance(1000);
  if (opts.exercise !== false) {
    a.engine.rekeyChild('site');
    sim.advance(500);
    b.engine.rekeyChild('site');
    sim.advance(500);
    a.engine.createChild('site', 'pods');
    sim.advance(500);
    a.engine.terminate('site', 'pods');
    sim.advance(500);
    sim.advance(31_000); // DPD
    a.engine.rekeyIke('site');
    sim.advance(500);
  }
  const fromA: Buffer[] = [];
  const fromB: Buffer[] = [];
  for (const p of sim.delivered) {
    const msg = p.bytes;
    if (msg.length < 28) continue;
    const spiHex = msg.subarray(0, 8).toString('hex');
    // Every IKE SA of the run (the first and the rekeyed one): find the keys by initiator SPI.
    for (const up of a.ikeUps()) {
      if (up.keys.spiI.toString('hex') !== spiHex) continue;
      const fromInitiator = (msg[19]! & Flag.INITIATOR) !== 0;
      const sentByA = p.from.address === ADDR_A;
      // a initiated the first SA; the rekeyed one may have either end as initiator.
      const key = fromInitiator ? up.keys.skEi : up.keys.skEr;
      const t = templateOf(msg, key);
      if (t) (sentByA ? fromA : fromB).push(t);
    }
  }
  return { sim, a, b, templates: { fromA, fromB } };
}
