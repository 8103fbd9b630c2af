import { Child, type ChildSpec } from './child.js';
import { Sad } from './sad.js';
import { SaPair } from './sa-pair.js';
import { Spd } from './spd.js';
import type { EspEvent } from './types.js';

/**
 * What the data path knows of one inbound SA's use (strongSwan's query_sa): traffic counts and
 * when an authentic packet last arrived (ms of the data path's clock; undefined: never).
 */
export interface SaUsage {
  packetsIn: number;
  bytesIn: number;
  packetsOut: number;
  bytesOut: number;
  lastInboundAt: number | undefined;
}

/**
 * The control-plane side of the data path: children, their SA pairs (SAD, by inbound SPI) and
 * their policies (SPD), as installs, rekeys and removals change them; lifetimes by time and
 * usage queries. The per-packet path (EspDataPath) reads the same maps; nothing here runs per packet.
 */
export class SaDatabase {
  readonly children = new Map<string, Child>();
  readonly sad = new Sad();
  readonly spd = new Spd();

  /**
   * Installs an SA pair for a child. A second install under the same name with new SPIs is a
   * rekey (make-before-break): the new pair carries outbound traffic at once, the old inbound SA
   * keeps accepting until removeSa(old spiIn). Installing the identical pair again is a no-op.
   * Throws RangeError for a spec that cannot work (bad key length, SPI in use, bad address…).
   */
  install(spec: ChildSpec, now: number): void {
    for (const spi of [spec.spiIn, spec.spiOut]) {
      // RFC 4303 §2.1: 0 is local-only and 1-255 are reserved for IANA.
      if (!Number.isInteger(spi) || spi < 256 || spi > 0xffffffff) throw new RangeError(`SPI must be an integer from 256 to 2^32-1, got ${spi}`);
    }
    const existing = this.sad.get(spec.spiIn >>> 0);
    if (existing !== undefined) {
      if (existing.child === spec.name && existing.sameAs(spec.spiIn, spec.spiOut, spec.keyIn, spec.keyOut)) return;
      throw new RangeError(`inbound SPI 0x${(spec.spiIn >>> 0).toString(16)} is already installed (child ${existing.child})`);
    }
    if (spec.mode !== 'tunnel' && spec.mode !== 'transport') throw new RangeError(`unknown ESP mode ${String(spec.mode)}`);
    const pair = new SaPair({
      child: spec.name,
      mode: spec.mode,
      spiIn: spec.spiIn,
      spiOut: spec.spiOut,
      keyIn: spec.keyIn,
      keyOut: spec.keyOut,
      replayWindow: spec.replayWindow,
      softLifetime: spec.softLifetime,
      hardLifetime: spec.hardLifetime,
      proposal: spec.proposal,
      installedAt: now,
      testOnlyFirstSeqOut: spec.testOnlyFirstSeqOut,
    });
    let child = this.children.get(spec.name);
    if (child === undefined) {
      child = new Child(spec);
      this.children.set(spec.name, child);
    } else {
      child.update(spec);
    }
    // Deferring matters only when an older pair can carry outbound meanwhile.
    pair.outboundDeferred = spec.deferOutbound === true && child.pairs.length > 0;
    this.sad.add(pair);
    child.pairs.push(pair);
    this.spd.set(child.policy);
  }

  /** Removes one SA pair (by its inbound SPI). The child and its policy stay: its traffic is
   *  then dropped as `no_sa` until a new pair is installed or the child is removed. */
  removeSa(spiIn: number): void {
    const pair = this.sad.remove(spiIn >>> 0);
    if (pair === undefined) return;
    const child = this.children.get(pair.child);
    if (child === undefined) return;
    const i = child.pairs.indexOf(pair);
    if (i >= 0) child.pairs.splice(i, 1);
  }

  /**
   * Outbound leaves this pair (a DELETE for it is about to be sent); it keeps accepting inbound
   * until removeSa. Unknown SPIs are ignored.
   */
  retireOutbound(spiIn: number): void {
    const pair = this.sad.get(spiIn >>> 0);
    if (pair !== undefined) pair.outboundRetired = true;
  }

  /** Removes a child: all its SA pairs and its policy. */
  removeChild(name: string): void {
    const child = this.children.get(name);
    if (child === undefined) return;
    for (const pair of child.pairs) this.sad.remove(pair.spiIn);
    child.pairs.length = 0;
    this.spd.remove(name);
    this.children.delete(name);
  }

  /** Applies time-based lifetimes at `now`. */
  checkAges(now: number, emit: (e: EspEvent) => void): void {
    for (const child of this.children.values()) {
      for (const pair of child.pairs) pair.checkAge(now, emit);
    }
  }

  /** The use of the SA pair whose inbound SPI this is; undefined when none is installed. */
  usage(spiIn: number): SaUsage | undefined {
    const pair = this.sad.get(spiIn >>> 0);
    if (pair === undefined) return undefined;
    const i = pair.inbound;
    return { packetsIn: i.packets, bytesIn: i.bytes, packetsOut: pair.outbound.packets, bytesOut: pair.outbound.bytes, lastInboundAt: i.lastUsedAt };
  }
}
