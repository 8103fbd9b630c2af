import { createHash, timingSafeEqual } from 'node:crypto';
import { natAddressBytes } from './nat.js';

/**
 * Stateless cookies (RFC 7296 §2.6): Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>).
 * The secret changes every `rotateMs`; the previous one stays valid so that a cookie handed out
 * just before a change still works.
 */
export class CookieJar {
  private secrets: Array<{ version: number; secret: Buffer }> = [];
  private rotatedAt = -Infinity;

  constructor(private readonly random: (n: number) => Buffer, private readonly rotateMs = 120_000) {}

  private current(now: number): { version: number; secret: Buffer } {
    if (this.secrets.length === 0 || now - this.rotatedAt >= this.rotateMs) {
      const version = ((this.secrets[0]?.version ?? 0) + 1) & 0xff;
      this.secrets = [{ version, secret: this.random(32) }, ...this.secrets].slice(0, 2);
      this.rotatedAt = now;
    }
    return this.secrets[0]!;
  }

  private hash(secret: Buffer, ni: Buffer, ip: string, spiI: Buffer): Buffer {
    return createHash('sha256').update(ni).update(natAddressBytes(ip)).update(spiI).update(secret).digest();
  }

  make(now: number, ni: Buffer, ip: string, spiI: Buffer): Buffer {
    const s = this.current(now);
    return Buffer.concat([Buffer.from([s.version]), this.hash(s.secret, ni, ip, spiI)]);
  }

  check(now: number, cookie: Buffer, ni: Buffer, ip: string, spiI: Buffer): boolean {
    this.current(now);
    if (cookie.length !== 33) return false;
    const s = this.secrets.find((x) => x.version === cookie[0]);
    if (!s) return false;
    return timingSafeEqual(cookie.subarray(1), this.hash(s.secret, ni, ip, spiI));
  }
}
