import type { ChildSa } from './sa/child-sa.js';
import type { IkeSa } from './sa/ike-sa.js';

/**
 * The engine's IKE SAs and the SPIs in use: lookup by our IKE SPI, by serial, by a child's inbound
 * SPI, and the responder's half-open SAs by (peer address, SPIi) for retransmitted IKE_SA_INIT.
 */
export class SaTable {
  /** Every IKE SA not closed, in creation order. */
  readonly all = new Set<IkeSa>();
  private readonly bySpi = new Map<string, IkeSa>();
  /** Responder SAs by (peer address, SPIi), to answer retransmitted IKE_SA_INIT from cache. */
  readonly halfOpenByPeer = new Map<string, IkeSa>();
  private readonly childSpis = new Set<number>();

  constructor(private readonly random: (n: number) => Buffer) {}

  static peerKey(address: string, spiI: Buffer): string {
    return `${address}|${spiI.toString('hex')}`;
  }

  /** Adds the SA (again, after its responder SPI became known: it is then found by that too). */
  register(sa: IkeSa): void {
    this.all.add(sa);
    this.bySpi.set(sa.ourSpi.toString('hex'), sa);
  }

  remove(sa: IkeSa): void {
    this.all.delete(sa);
    const spi = sa.ourSpi.toString('hex');
    if (this.bySpi.get(spi) === sa) this.bySpi.delete(spi);
    for (const [k, v] of this.halfOpenByPeer) if (v === sa) this.halfOpenByPeer.delete(k);
  }

  byOurSpi(spi: Buffer): IkeSa | undefined {
    return this.bySpi.get(spi.toString('hex'));
  }

  bySerial(serial: number): IkeSa | undefined {
    for (const sa of this.all) if (sa.serial === serial) return sa;
    return undefined;
  }

  /** The child whose inbound SPI this is, and the IKE SA that holds it. */
  byChildSpi(spiIn: number): { sa: IkeSa; child: ChildSa } | undefined {
    for (const sa of this.all) {
      const child = sa.children.find((c) => c.spiIn === spiIn);
      if (child) return { sa, child };
    }
    return undefined;
  }

  /** A fresh, unique, non-zero IKE SPI. */
  allocateIkeSpi(): Buffer {
    for (;;) {
      const spi = this.random(8);
      if (!spi.every((b) => b === 0) && !this.bySpi.has(spi.toString('hex'))) return spi;
    }
  }

  /** A fresh inbound ESP SPI, unique among ours, never 0..255 (reserved, RFC 4303). */
  allocateChildSpi(): number {
    for (;;) {
      const spi = this.random(4).readUInt32BE(0);
      if (spi > 255 && !this.childSpis.has(spi)) {
        this.childSpis.add(spi);
        return spi;
      }
    }
  }

  releaseChildSpi(spi: number): void {
    this.childSpis.delete(spi);
  }

  /** Responder SAs waiting for IKE_AUTH (what the cookie threshold and the half-open limit count). */
  halfOpenCount(): number {
    let n = 0;
    for (const sa of this.all) if (sa.state === 'authenticating' && !sa.initiator && sa.rekeyOf === undefined) n++;
    return n;
  }

  /** The connection's IKE SA that takes new work: the newest established one (or the one being rekeyed). */
  newest(connection: string): IkeSa | undefined {
    let best: IkeSa | undefined;
    for (const sa of this.all) {
      // An IKE SA whose own rekey is in flight still counts: work queued on it moves to its successor.
      const usable = sa.state === 'established' || sa.state === 'rekeying';
      if (sa.name === connection && usable && (!best || sa.serial > best.serial)) best = sa;
    }
    return best;
  }

  /** Whether another IKE SA that was established is up with this SA's peer (address). */
  hasOtherWithPeer(sa: IkeSa): boolean {
    for (const o of this.all) if (o !== sa && o.remote.address === sa.remote.address && !o.isClosed() && o.establishedAt !== undefined) return true;
    return false;
  }
}
