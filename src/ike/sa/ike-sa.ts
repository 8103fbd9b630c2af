import type { ResolvedConnection } from '../config.js';
import { ExchangeType, Flag } from '../constants.js';
import type { Endpoint, IkeOutput } from '../events.js';
import type { IkeId } from '../auth-provider.js';
import { encodeFragments, encodeProtected, protectedLength } from '../message/message.js';
import type { Payload } from '../message/payloads.js';
import { FragmentAssembler } from '../message/reassembly.js';
import type { Task } from '../tasks/task.js';
import type { ChildSa } from './child-sa.js';
import { checkTransition, type IkeCrypto, type IkePhase, type IkeState, type KeyedPhase } from './phase.js';

export type { IkeCrypto, IkePhase, IkeState } from './phase.js';

export type { Task } from '../tasks/task.js';

export interface Outstanding {
  task: Task;
  messageId: number;
  packets: Buffer[];
  tries: number;
  /** When the request first left (its round trip is a sample when answered without a retransmission). */
  sentAt: number;
  /** Its first timeout, the measured RTO when it left: its later tries back off from this one. */
  firstMs: number;
  deadline: number;
}

/** Retransmission schedule (strongSwan's defaults: 4 s, ×1.8, 5 retransmits). */
export interface RetransmitPolicy {
  /** The first timeout when nothing is measured yet, and the least it gets (rtt.ts). */
  timeoutMs: number;
  /** The most the first timeout grows to from measured round trips (default 4 × timeoutMs). */
  ceilingMs?: number;
  base: number;
  tries: number;
}

/** How long the configured schedule waits from the first send to giving up: the sum of its timeouts. */
export function giveUpAfterMs(p: RetransmitPolicy): number {
  let total = 0;
  for (let i = 0; i <= p.tries; i++) total += Math.round(p.timeoutMs * Math.pow(p.base, i));
  return total;
}

/** An IKE SA in a phase that has keys (narrowed by IkeSa.isKeyed). */
export type KeyedIkeSa = IkeSa & { readonly phase: KeyedPhase; readonly crypto: IkeCrypto };

/** The state of one IKE SA. The exchanges that drive it live in ../tasks/. */
export class IkeSa {
  #phase: IkePhase;
  spiR: Buffer = Buffer.alloc(8);
  remoteId?: IkeId;
  localId?: IkeId;
  ni: Buffer = Buffer.alloc(0);
  nr: Buffer = Buffer.alloc(0);
  /** IKE_SA_INIT request and response as sent on the wire (signed in IKE_AUTH, §2.15). */
  initRequest: Buffer = Buffer.alloc(0);
  initResponse: Buffer = Buffer.alloc(0);
  peerFragmentation = false;
  peerHashAlgs: number[] = [];
  /** NAT detected (or faked): traffic moves to port 4500 from IKE_AUTH on. */
  natT = false;
  natLocal = false;
  natRemote = false;

  nextRequestId = 0;
  peerNextRequestId = 0;
  outstanding?: Outstanding;
  readonly queue: Task[] = [];
  lastResponse?: { messageId: number; packets: Buffer[] };
  readonly children: ChildSa[] = [];
  readonly assembler = new FragmentAssembler();

  establishedAt?: number;
  rekeyAt?: number;
  lastHeard: number;
  /** When a half-open or rekeyed SA is dropped if nothing else happens. */
  expireAt?: number;
  /** When the next liveness check is due. */
  dpdAt?: number;
  /** Set on the old SA when the peer rekeyed it while our IKE rekey was pending (§2.8.2). */
  peerRekey?: { nonces: [Buffer, Buffer]; replacement: { sa: IkeSa; crypto: IkeCrypto } };
  /** Peer SPIs deleted while our CREATE_CHILD_SA was outstanding (the child it creates must not be installed). */
  readonly earlyDeletes = new Set<number>();
  /** The SA that replaced this one. */
  replacedBy?: IkeSa;
  /** Serial of the IKE SA this one rekeyed (it was made by CREATE_CHILD_SA, not IKE_AUTH). */
  rekeyOf?: number;
  private ivCounter = 0n;

  constructor(
    readonly serial: number,
    /** May switch to a sibling connection (same peer) in IKE_AUTH, see respondAuth. */
    public conn: ResolvedConnection,
    /** We are the original initiator of this IKE SA (sets the I flag, selects SK_ei for sending). */
    readonly initiator: boolean,
    readonly spiI: Buffer,
    public local: Endpoint,
    public remote: Endpoint,
    now: number,
    /** Where it starts: `init-sent` when we initiate, `authenticating` (keys derived) otherwise. */
    initial: IkePhase,
  ) {
    this.#phase = initial;
    this.lastHeard = now;
  }

  get phase(): IkePhase {
    return this.#phase;
  }

  get state(): IkeState {
    return this.#phase.state;
  }

  /** The negotiated proposal and keys, in the phases that have them. */
  get crypto(): IkeCrypto | undefined {
    return 'crypto' in this.#phase ? this.#phase.crypto : undefined;
  }

  /** Gone (a method, so that a check after a callback is not narrowed away by an earlier one). */
  isClosed(): boolean {
    return this.#phase.state === 'closed';
  }

  isKeyed(): this is KeyedIkeSa {
    return 'crypto' in this.#phase;
  }

  /**
   * The one way an IKE SA changes state (strongSwan's set_state): checked against the allowed
   * moves (phase.ts), logged and reported as an `ike-state` output. A state name keeps the keys
   * of the current phase; only leaving `init-sent` brings them, as a phase.
   */
  transition(to: IkeState | IkePhase, reason: string, emit: (o: IkeOutput) => void): void {
    const from = this.#phase;
    const next = typeof to === 'object' ? to : phaseFor(to, from);
    checkTransition(from.state, next.state);
    this.#phase = next;
    emit({ kind: 'log', line: `"${this.name}" #${this.serial}: IKE SA ${from.state} → ${next.state} (${reason})` });
    emit({ kind: 'ike-state', name: this.name, serial: this.serial, from: from.state, to: next.state, reason });
  }

  /** The IKE SA that now holds this one's children: itself, or its successor after rekeys. */
  get current(): IkeSa {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    let s: IkeSa = this;
    while (s.replacedBy) s = s.replacedBy;
    return s;
  }

  get ourSpi(): Buffer {
    return this.initiator ? this.spiI : this.spiR;
  }

  get name(): string {
    return this.conn.name;
  }

  /** Our inbound SK_e. */
  receiveKey(crypto: IkeCrypto): Buffer {
    return this.initiator ? crypto.keys.skEr : crypto.keys.skEi;
  }

  /** A unique 8-byte IV per message under this SA's key (a counter is as good as random for GCM). */
  nextIv(): Buffer {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(++this.ivCounter);
    return b;
  }

  flags(response: boolean): number {
    return (this.initiator ? Flag.INITIATOR : 0) | (response ? Flag.RESPONSE : 0);
  }

  /** Encodes a protected message, fragmented (RFC 7383) when it exceeds the path limit and the peer supports it. */
  protect(crypto: IkeCrypto, exchangeType: number, messageId: number, response: boolean, payloads: Payload[]): Buffer[] {
    const sendKey = this.initiator ? crypto.keys.skEi : crypto.keys.skEr;
    const frame = { spiI: this.spiI, spiR: this.spiR, exchangeType, flags: this.flags(response), messageId };
    const mtu = this.conn.config.fragmentMtu ?? 1280;
    const limit = mtu - 20 - 8 - (this.local.port === 4500 ? 4 : 0);
    const fragOk = this.peerFragmentation && (this.conn.config.fragmentation ?? true) && exchangeType !== ExchangeType.IKE_SA_INIT;
    if (fragOk && protectedLength(payloads) > limit) {
      return encodeFragments(frame, payloads, sendKey, () => this.nextIv(), limit);
    }
    return [encodeProtected(frame, payloads, sendKey, this.nextIv())];
  }

  /**
   * How long the peer may be silent before we check it is alive (0: never). The IKE SA's
   * initiator checks after dpd_delay, the responder after 1.5 × dpd_delay: on an idle pair the
   * initiator's check, heard by the responder, keeps the responder from checking too — one
   * exchange per pair per dpd_delay rather than one from each end whenever their timers meet
   * (each end heard the other last at nearly the same moment). A dead initiator is still found
   * by the responder, half a delay later.
   */
  livenessDelayMs(): number {
    const d = this.conn.config.dpdDelayMs ?? 0;
    return this.initiator ? d : d + Math.floor(d / 2);
  }

  /**
   * When try `tries` + 1 is due: the first timeout (`firstMs`, from the measured round trips)
   * backed off exponentially — but never past the give-up time of the configured schedule counted
   * from the first send (`sentAt`): a longer first timeout spaces the tries, it does not make a
   * request that will never be answered (its responder dropped the half-open SA) wait longer.
   */
  retransmitDeadline(policy: RetransmitPolicy, tries: number, now: number, firstMs = policy.timeoutMs, sentAt = now): number {
    return Math.min(now + Math.round(firstMs * Math.pow(policy.base, tries)), sentAt + giveUpAfterMs(policy));
  }
}

/** The phase a state name means from `from`, keeping its keys (closing drops them). */
function phaseFor(to: IkeState, from: IkePhase): IkePhase {
  if (to === 'closed') return { state: 'closed' };
  if (to === 'init-sent') return { state: 'init-sent' };
  if (!('crypto' in from)) throw new Error(`IKE SA cannot enter ${to} from ${from.state}: it has no keys`);
  return { state: to, crypto: from.crypto };
}
