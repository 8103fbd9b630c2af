import type { ChildSpec } from '../esp/child.js';
import type { IkeState } from './sa/phase.js';

export interface Endpoint {
  address: string;
  port: number;
}

/**
 * A negotiated child SA as the engine hands it out (child-up): the ESP data path's spec
 * (esp/child.ts, what gets installed) plus which connection and child of ours it is.
 */
export interface NegotiatedChild extends ChildSpec {
  /** Connection name and child name: `conn/child`. */
  name: string;
  connection: string;
  child: string;
  /** Our UDP port for ESP-in-UDP (4500 after the NAT-T float). */
  localPort: number;
  /** xfrm-style name: `AES_GCM_16_256-NONE-MODP2048`. */
  proposal: string;
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

/**
 * What the engine gives back through poll(), in order. The driver turns these into host calls.
 *
 * - `send`: one datagram (on the NAT-T port with the 4-byte non-ESP marker, RFC 3948).
 * - `child-up`: a CHILD SA pair to install. When it was made by a rekey (RFC 7296 §2.8),
 *   `spec.replacesSpiIn` names the pair it replaces: outbound moves to the new pair (unless
 *   `deferOutbound`), the old one stays inbound until its own `child-down`.
 * - `child-retiring`: we are about to send a DELETE for this pair: stop sending on it.
 * - `child-down`: remove this pair from the data path (deleted, expired, or its IKE SA is gone).
 * - `ike-up`: an IKE SA became established — by IKE_AUTH, or by a rekey of the IKE SA whose serial
 *   `replaces` names (its children moved to this one). Carries the keys for the key log.
 * - `ike-down`: an IKE SA is gone, exactly once, for every SA that had an `ike-up` and for every
 *   initiation of ours that failed before it (`established: false`, e.g. NO_PROPOSAL_CHOSEN,
 *   AUTHENTICATION_FAILED, peer not responding). `replacedBy` is set when a rekey replaced it
 *   (its children live on there; reason 'rekeyed'). The `child-down`s of its children come first.
 * - `ike-state`: an IKE SA moved from one state to another (sa/phase.ts), with why; `to: 'closed'`
 *   comes with (just before) the SA's `ike-down` when it has one.
 * - `log`: a line for people (no secrets).
 */
export type IkeOutput =
  /** An IKE message to send (on 4500 the socket puts the non-ESP marker in front). */
  | { kind: 'send'; bytes: Buffer; from: Endpoint; to: Endpoint }
  | { kind: 'child-up'; spec: NegotiatedChild }
  | { kind: 'child-down'; spiIn: number; spiOut: number; name: string; reason: string }
  | { kind: 'child-retiring'; spiIn: number }
  | { kind: 'ike-up'; name: string; serial: number; initiator: boolean; spiI: Buffer; spiR: Buffer; local: Endpoint; remote: Endpoint; keys: IkeKeysEvent; replaces?: number }
  | { kind: 'ike-down'; name: string; serial: number; spiI: Buffer; spiR: Buffer; reason: string; established: boolean; replacedBy?: number }
  | { kind: 'ike-state'; name: string; serial: number; from: IkeState; to: IkeState; reason: string }
  | { kind: 'log'; line: string };
