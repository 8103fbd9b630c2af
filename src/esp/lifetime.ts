import type { ExpiryReason, Lifetime } from './types.js';

/**
 * Soft and hard lifetime limits of one SA direction, by time, bytes and packets (RFC 4301
 * §4.4.2.1). Crossing a soft limit asks for a rekey; crossing a hard limit ends the SA.
 * A limit that is absent or 0 never triggers.
 */
export class LifetimeLimits {
  private readonly softMs: number;
  private readonly hardMs: number;
  private readonly softBytes: number;
  private readonly hardBytes: number;
  private readonly softPackets: number;
  private readonly hardPackets: number;

  constructor(soft: Lifetime | undefined, hard: Lifetime | undefined) {
    this.softMs = limit(soft?.seconds, 1000);
    this.hardMs = limit(hard?.seconds, 1000);
    this.softBytes = limit(soft?.bytes, 1);
    this.hardBytes = limit(hard?.bytes, 1);
    this.softPackets = limit(soft?.packets, 1);
    this.hardPackets = limit(hard?.packets, 1);
  }

  /** The first hard limit reached by this traffic total, or null. */
  hardByVolume(bytes: number, packets: number): ExpiryReason | null {
    if (packets >= this.hardPackets) return 'packets';
    if (bytes >= this.hardBytes) return 'bytes';
    return null;
  }

  /** The first soft limit reached by this traffic total, or null. */
  softByVolume(bytes: number, packets: number): ExpiryReason | null {
    if (packets >= this.softPackets) return 'packets';
    if (bytes >= this.softBytes) return 'bytes';
    return null;
  }

  hardByAge(ageMs: number): boolean {
    return ageMs >= this.hardMs;
  }

  softByAge(ageMs: number): boolean {
    return ageMs >= this.softMs;
  }

  /** Milliseconds from installation until the soft time limit, or Infinity. */
  get softAfterMs(): number {
    return this.softMs;
  }

  get hardAfterMs(): number {
    return this.hardMs;
  }
}

function limit(value: number | undefined, scale: number): number {
  return value !== undefined && value > 0 ? value * scale : Infinity;
}
