import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

/** NAT_DETECTION_*_IP data (RFC 7296 §2.23): SHA-1(SPIi | SPIr | IP | Port). */
export function natHash(spiI: Buffer, spiR: Buffer, address: string, port: number): Buffer {
  const p = Buffer.alloc(2);
  p.writeUInt16BE(port);
  return createHash('sha1').update(spiI).update(spiR).update(addressBytes(address)).update(p).digest();
}

export function addressBytes(a: string): Buffer {
  if (isIPv4(a)) return Buffer.from(a.split('.').map(Number));
  if (isIPv6(a)) {
    const [head, tail] = a.split('::');
    const h = head ? head.split(':') : [];
    const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
    const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
    const b = Buffer.alloc(16);
    groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16) || 0, i * 2));
    return b;
  }
  return Buffer.alloc(4);
}
