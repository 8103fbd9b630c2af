/**
 * An in-memory network for IKE engines (test helper, not a test): engines keyed by address,
 * datagrams delivered in order after a latency, a manual clock, seeded randomness, and hooks to
 * drop, duplicate or inspect packets.
 */
import { createHash } from 'node:crypto';
import { IkeEngine, type IkeEngineOptions } from '../../src/ike/engine.js';
import type { IkeAuthProvider } from '../../src/ike/auth-provider.js';
import type { IkeConnectionConfig } from '../../src/ike/config.js';
import type { Endpoint, IkeOutput, NegotiatedChild } from '../../src/ike/events.js';
import { AuthMethod, IdType } from '../../src/ike/constants.js';
import { equalSecret } from '../../src/crypto/aes-gcm.js';

export function seededRandom(seed: string): (n: number) => Buffer {
  let counter = 0;
  return (n: number) => {
    const parts: Buffer[] = [];
    let have = 0;
    while (have < n) {
      const b = createHash('sha256').update(seed).update(String(counter++)).digest();
      parts.push(b);
      have += b.length;
    }
    return Buffer.concat(parts).subarray(0, n);
  };
}

/** PSK authentication as RFC 7296 §2.15 defines it, with FQDN identities, for tests. */
export function pskAuth(secret: string, localId: string, remoteId: string): IkeAuthProvider & { failures: string[] } {
  const failures: string[] = [];
  const pad = Buffer.from('Key Pad for IKEv2');
  return {
    failures,
    sign(_conn, signed, _algs, prf) {
      return { method: AuthMethod.SHARED_KEY_MIC, data: prf(prf(Buffer.from(secret), pad), signed), certs: [] };
    },
    verify(_conn, method, data, signed, _certs, peerId, prf) {
      if (method !== AuthMethod.SHARED_KEY_MIC) return fail(`method ${method}`);
      if (peerId.type !== IdType.FQDN || peerId.data.toString() !== remoteId) return fail(`unexpected peer id ${peerId.data.toString()}`);
      const want = prf(prf(Buffer.from(secret), pad), signed);
      return equalSecret(want, data) ? { ok: true } : fail('PSK MAC mismatch');
    },
    localId: () => ({ type: IdType.FQDN, data: Buffer.from(localId) }),
  };
  function fail(reason: string): { ok: false; reason: string } {
    failures.push(reason);
    return { ok: false, reason };
  }
}

export interface Packet {
  bytes: Buffer;
  from: Endpoint;
  to: Endpoint;
  at: number;
}

export class Node {
  readonly outputs: IkeOutput[] = [];
  private readonly times = new Map<IkeOutput, number>();
  record(o: IkeOutput, at: number): void {
    this.outputs.push(o);
    this.times.set(o, at);
  }
  /** When the engine produced this output (simulated ms). */
  timeOf(o: IkeOutput): number | undefined {
    return this.times.get(o);
  }
  constructor(readonly name: string, readonly address: string, readonly engine: IkeEngine) {}
  get logs(): string[] {
    return this.outputs.filter((o): o is Extract<IkeOutput, { kind: 'log' }> => o.kind === 'log').map((o) => o.line);
  }
  childUps(): NegotiatedChild[] {
    return this.outputs.filter((o): o is Extract<IkeOutput, { kind: 'child-up' }> => o.kind === 'child-up').map((o) => o.spec);
  }
  childDowns(): Array<Extract<IkeOutput, { kind: 'child-down' }>> {
    return this.outputs.filter((o): o is Extract<IkeOutput, { kind: 'child-down' }> => o.kind === 'child-down');
  }
  ikeUps(): Array<Extract<IkeOutput, { kind: 'ike-up' }>> {
    return this.outputs.filter((o): o is Extract<IkeOutput, { kind: 'ike-up' }> => o.kind === 'ike-up');
  }
  ikeDowns(): Array<Extract<IkeOutput, { kind: 'ike-down' }>> {
    return this.outputs.filter((o): o is Extract<IkeOutput, { kind: 'ike-down' }> => o.kind === 'ike-down');
  }
  /** Children currently installed, per the events (up minus down). */
  liveChildren(): NegotiatedChild[] {
    const down = new Set(this.childDowns().map((d) => d.spiIn));
    return this.childUps().filter((c) => !down.has(c.spiIn));
  }
}

export class Sim {
  /** A deterministic random number in [0, 1) for test decisions. */
  chance(): number {
    return this.netRandom(4).readUInt32BE(0) / 2 ** 32;
  }

  now = 0;
  latency = 5;
  /** Extra random delay per packet (0..jitter ms), which reorders packets. */
  jitter = 0;
  private readonly netRandom = seededRandom('network');
  readonly nodes = new Map<string, Node>();
  private queue: Packet[] = [];
  /** Return true to drop a packet. */
  drop: (p: Packet) => boolean = () => false;
  /** Return true to deliver a packet twice. */
  duplicate: (p: Packet) => boolean = () => false;
  readonly delivered: Packet[] = [];
  /** Packets sent to addresses with no engine (e.g. spoofed sources). */
  readonly unrouted: Packet[] = [];

  add(name: string, address: string, connections: IkeConnectionConfig[], auth: IkeAuthProvider, extra: Partial<IkeEngineOptions> = {}): Node {
    const engine = new IkeEngine({ now: () => this.now, random: seededRandom(`${name}-seed`), connections, auth, ...extra });
    const n = new Node(name, address, engine);
    this.nodes.set(address, n);
    return n;
  }

  /** Collects outputs of every engine, queueing sends. */
  flush(): void {
    for (const n of this.nodes.values()) {
      for (const o of n.engine.poll()) {
        n.record(o, this.now);
        if (o.kind === 'send') {
          const extra = this.jitter > 0 ? this.netRandom(2).readUInt16BE(0) % (this.jitter + 1) : 0;
          this.queue.push({ bytes: o.bytes, from: o.from, to: o.to, at: this.now + this.latency + extra });
        }
      }
    }
  }

  /** Injects a datagram as if it came over the network. */
  inject(bytes: Buffer, from: Endpoint, to: Endpoint): void {
    this.queue.push({ bytes, from, to, at: this.now });
  }

  private deliver(p: Packet): void {
    const n = this.nodes.get(p.to.address);
    if (!n) {
      this.unrouted.push(p);
      return;
    }
    this.delivered.push(p);
    n.engine.receive(p.bytes, p.from, p.to);
  }

  /** Runs until `until` ms (absolute), delivering packets and firing timers in time order. */
  run(until: number): void {
    for (let guard = 0; guard < 1_000_000; guard++) {
      this.flush();
      const nextPacket = this.queue.reduce((m, p) => Math.min(m, p.at), Infinity);
      let nextTimer = Infinity;
      for (const n of this.nodes.values()) nextTimer = Math.min(nextTimer, n.engine.nextDeadline() ?? Infinity);
      const next = Math.min(nextPacket, nextTimer);
      if (next > until) {
        this.now = Math.max(this.now, until);
        return;
      }
      this.now = Math.max(this.now, next);
      if (nextPacket <= nextTimer) {
        const i = this.queue.findIndex((p) => p.at === nextPacket);
        const p = this.queue.splice(i, 1)[0]!;
        if (this.drop(p)) continue;
        this.deliver(p);
        if (this.duplicate(p)) this.deliver(p);
      } else {
        for (const n of this.nodes.values()) {
          const d = n.engine.nextDeadline();
          if (d !== undefined && d <= this.now) n.engine.onTimeout(this.now);
        }
      }
    }
    throw new Error('simulation did not settle');
  }

  /** Runs for `ms` more. */
  advance(ms: number): void {
    this.run(this.now + ms);
  }
}

export function conn(name: string, local: string, remote: string, over: Partial<IkeConnectionConfig> = {}, child: Partial<IkeConnectionConfig['children'][number]> = {}): IkeConnectionConfig {
  return {
    name,
    localAddrs: [local],
    remoteAddrs: [remote],
    proposals: ['aes256gcm16-prfsha256-modp2048'],
    children: [{ name: 'pods', mode: 'tunnel', localTs: ['10.1.0.0/24'], remoteTs: ['10.2.0.0/24'], espProposals: ['aes256gcm16'], ...child }],
    ...over,
  };
}

/** The two ends of a child pair must mirror each other. */
export function assertMirrored(a: NegotiatedChild, b: NegotiatedChild, eq: (x: unknown, y: unknown, m?: string) => void): void {
  eq(a.spiIn, b.spiOut, 'spiIn of one is spiOut of the other');
  eq(a.spiOut, b.spiIn, 'spiOut of one is spiIn of the other');
  eq(a.keyIn.toString('hex'), b.keyOut.toString('hex'), 'keyIn of one is keyOut of the other');
  eq(a.keyOut.toString('hex'), b.keyIn.toString('hex'), 'keyOut of one is keyIn of the other');
}
