import type { SaPair } from './sa-pair.js';

/**
 * The security association database (RFC 4301 §4.4.2) for inbound traffic: SA pairs by the SPI
 * we chose for the peer to send with. Inbound ESP is demultiplexed by SPI alone (unicast SAs).
 */
export class Sad {
  private readonly byInboundSpi = new Map<number, SaPair>();

  add(pair: SaPair): void {
    if (this.byInboundSpi.has(pair.spiIn)) {
      throw new RangeError(`inbound SPI 0x${pair.spiIn.toString(16).padStart(8, '0')} is already installed`);
    }
    this.byInboundSpi.set(pair.spiIn, pair);
  }

  get(spiIn: number): SaPair | undefined {
    return this.byInboundSpi.get(spiIn);
  }

  remove(spiIn: number): SaPair | undefined {
    const pair = this.byInboundSpi.get(spiIn);
    this.byInboundSpi.delete(spiIn);
    return pair;
  }

  get size(): number {
    return this.byInboundSpi.size;
  }
}
