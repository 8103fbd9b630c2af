import type { TrafficSelector } from '../esp/types.js';

export interface Endpoint {
  address: string;
  port: number;
}

/** What the ESP data path installs for a child SA (agreed with the ESP engine). */
export interface ChildSpec {
  /** Connection name and child name: `conn/child`. */
  name: string;
  connection: string;
  child: string;
  mode: 'tunnel' | 'transport';
  local: string;
  remote: string;
  /** UDP port of the peer for ESP-in-UDP (4500 after NAT-T float). */
  remotePort: number;
  localPort: number;
  localTs: TrafficSelector[];
  remoteTs: TrafficSelector[];
  spiIn: number;
  spiOut: number;
  /** AES-GCM key ‖ 4-byte salt. */
  keyIn: Buffer;
  keyOut: Buffer;
  /** xfrm-style name: `AES_GCM_16_256-NONE-MODP2048`. */
  proposal: string;
  softLifetime?: { bytes?: number; packets?: number };
  hardLifetime?: { bytes?: number; packets?: number };
  /**
   * We answered the exchange that made this pair: the peer installs it only when our response
   * arrives. Until then outbound stays on an older pair of the same child, if there is one.
   */
  deferOutbound?: boolean;
  /** The SPI this child replaces (rekey), so the data path can switch outbound traffic. */
  replacesSpiIn?: number;
}

/** Keys for Wireshark's ikev2_decryption_table. */
export interface IkeKeysEvent {
  spiI: Buffer;
  spiR: Buffer;
  skEi: Buffer;
  skEr: Buffer;
  skAi: Buffer;
  skAr: Buffer;
  encr: string;
}

export type IkeOutput =
  | { kind: 'send'; bytes: Buffer; from: Endpoint; to: Endpoint }
  | { kind: 'child-up'; spec: ChildSpec }
  | { kind: 'child-down'; spiIn: number; spiOut: number; name: string; reason: string }
  /** We are about to send a DELETE for this child: stop sending on it (another pair of its name takes over). */
  | { kind: 'child-retiring'; spiIn: number }
  | { kind: 'ike-up'; name: string; serial: number; spiI: Buffer; spiR: Buffer; local: Endpoint; remote: Endpoint; keys: IkeKeysEvent }
  | { kind: 'ike-down'; name: string; serial: number; spiI: Buffer; spiR: Buffer; reason: string }
  | { kind: 'log'; line: string };
