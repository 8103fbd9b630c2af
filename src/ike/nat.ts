import { createHash } from 'node:crypto';
import { addressBytes } from '../wire/address.js';

/** NAT_DETECTION_*_IP data (RFC 7296 §2.23): SHA-1(SPIi | SPIr | IP | Port). */
export function natHash(spiI: Buffer, spiR: Buffer, address: string, port: number): Buffer {
  const p = Buffer.alloc(2);
  p.writeUInt16BE(port);
  return createHash('sha1').update(spiI).update(spiR).update(natAddressBytes(address)).update(p).digest();
}

/** The address as NAT-D hashes it; 4 zero bytes for text that is no address (never matches a peer's). */
export function natAddressBytes(a: string): Buffer {
  return addressBytes(a) ?? Buffer.alloc(4);
}
