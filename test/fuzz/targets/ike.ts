import { randomBytes } from 'node:crypto';
import { decodeMessage, decodeReassembled } from '../../../src/ike/message/message.js';
import { FragmentAssembler, MAX_REASSEMBLED_BYTES } from '../../../src/ike/message/reassembly.js';
import type { IkeCounters } from '../../../src/ike/engine.js';
import type { FuzzTarget, Harness } from '../target.js';
import { sealTemplate } from './ike-sealing.js';
import { ADDR_A, ADDR_B, establishedPair } from './ike-sim-pair.js';

/** IKE messages as they arrive, outside SK: header, payload chain, SA/TS/Notify/… bodies. */
export const ikeMessage: FuzzTarget = {
  name: 'ike-message',
  what: 'IKE datagrams outside SK (src/ike/message: header, chain, payload bodies)',
  corpusDirs: ['ike'],
  create(): Harness {
    return {
      seeds: () => [],
      run(input) {
        const r = decodeMessage(input, () => undefined);
        if (!r.ok) return r.error.cause;
        return r.value.kind === 'message' ? `accepted:${r.value.message.payloads.length === 0 ? 'empty' : 'payloads'}` : 'accepted:fragment';
      },
      check() {},
    };
  },
};

/** Inside SK and SKF: templates sealed with a key the harness holds, then reassembled. */
export const ikeInner: FuzzTarget = {
  name: 'ike-inner',
  what: 'IKE payloads inside SK and SKF fragments, reassembly (src/ike/message, reassembly.ts)',
  corpusDirs: [],
  create(): Harness {
    const key = randomBytes(36);
    const assembler = new FragmentAssembler();
    let held = 0;
    const { templates } = establishedPair();
    const seeds = [...templates.fromA, ...templates.fromB, ...establishedPair({ fragmentMtu: 576, exercise: false }).templates.fromA];
    return {
      seeds: () => seeds,
      run(input) {
        const sealed = sealTemplate(input, key, randomBytes(8)) ?? input;
        const r = decodeMessage(sealed, () => key);
        if (!r.ok) return r.error.cause;
        if (r.value.kind === 'message') return 'accepted:message';
        const done = assembler.add(r.value.fragment);
        if (done === 'rejected') return 'fragment-rejected';
        if (!done) {
          held++;
          return 'accepted:fragment-held';
        }
        held = 0;
        const m = decodeReassembled(done.header, done.innerFirst, done.content);
        return m.ok ? 'accepted:reassembled' : `reassembled:${m.error.cause}`;
      },
      check() {
        // The assembler's own byte count is private; what it holds is bounded by its constant.
        const bytes = (assembler as unknown as { bytes: number }).bytes;
        if (bytes > MAX_REASSEMBLED_BYTES) throw new Error(`fragment assembler holds ${bytes} bytes`);
      },
      sizes: () => ({ fragment_bytes_held: (assembler as unknown as { bytes: number }).bytes, fragments_in_a_row: held }),
    };
  },
};

const COUNTERS: (keyof IkeCounters)[] = [
  'malformed', 'decryptFailed', 'unknownSpi', 'badMessageId', 'retransmittedRequests', 'halfOpenLimit',
  'cookiesSent', 'unsupportedCritical',
];

/**
 * The whole engine as a responder with an established SA. The first input byte picks how the rest
 * is delivered: bit 0 port 4500 or 500 (the engine sees the bare message on both: the socket strips the non-ESP marker); bit 1 seal it as a template with
 * the SA's real SK_ei; bit 2 set the message ID the engine expects next (so requests get past the
 * window into the exchange handlers). Raw captures from strongSwan and pluto seed it too.
 */
export const ikeEngine: FuzzTarget = {
  name: 'ike-engine',
  what: 'IkeEngine.receive on an established responder (every exchange handler, cookies, half-open limit)',
  corpusDirs: ['ike'],
  corpusPrefixes: [0, 1],
  create(): Harness {
    const maxHalfOpen = 64;
    const { sim, a, b, templates } = establishedPair({ maxHalfOpen });
    const up = () => a.ikeUps().at(-1)!.keys;
    let expectedId = 0;
    const noteResponses = (sends: Buffer[]): void => {
      for (const m of sends) {
        if (m.length >= 28 && (m[19]! & 0x20) !== 0 && m[18] !== 34 && m.subarray(0, 8).equals(up().spiI)) expectedId = Math.max(expectedId, m.readUInt32BE(20) + 1);
      }
    };
    noteResponses(sim.delivered.filter((p) => p.from.address === ADDR_B).map((p) => p.bytes));
    // From here on the engine is driven directly (no simulated network keeping every packet), so
    // a long campaign holds only what the engine itself holds.
    const seeds = templates.fromA.flatMap((t) => [Buffer.concat([Buffer.from([0b111]), t]), Buffer.concat([Buffer.from([0b011]), t])]);
    return {
      seeds: () => seeds,
      run(input) {
        if (input.length === 0) return 'empty-input';
        const mode = input[0]!;
        let msg: Buffer = Buffer.from(input.subarray(1));
        const k = up();
        if (mode & 4 && msg.length >= 28) msg.writeUInt32BE(expectedId, 20);
        if (mode & 2 && msg.length >= 16) {
          // seal for the current SA: its SPIs unless the mutation already changed them
          msg = sealTemplate(msg, k.skEi, randomBytes(8)) ?? msg;
        }
        const port = mode & 1 ? 4500 : 500;
        const before = { ...b.engine.counters };
        sim.now += 1;
        b.engine.receive(msg, { address: ADDR_A, port }, { address: ADDR_B, port });
        const d = b.engine.nextDeadline();
        if (d !== undefined && d <= sim.now) b.engine.onTimeout(sim.now);
        const outs = b.engine.poll();
        const sends = outs.flatMap((o) => (o.kind === 'send' ? [o.bytes] : []));
        noteResponses(sends);
        const c = b.engine.counters;
        if (c.internalErrors !== before.internalErrors) {
          throw new Error(`engine internal error: ${outs.flatMap((o) => (o.kind === 'log' ? [o.line] : [])).join('\n')}`);
        }
        for (const name of COUNTERS) if (c[name] !== before[name]) return name;
        return sends.length > 0 ? 'accepted:answered' : 'accepted:silent';
      },
      check() {
        const st = b.engine.status();
        const halfOpen = st.ike_sas.filter((s) => s.state === 'half-open').length;
        if (halfOpen > maxHalfOpen) throw new Error(`${halfOpen} half-open SAs (limit ${maxHalfOpen})`);
        // Established SAs come only from authenticated exchanges: the original and its rekeys.
        if (st.ike_sas.length > maxHalfOpen + 8) throw new Error(`${st.ike_sas.length} IKE SAs`);
        if (b.engine.counters.internalErrors > 0) throw new Error('internal errors');
      },
      sizes() {
        const st = b.engine.status();
        return {
          ike_sas: st.ike_sas.length,
          half_open: st.ike_sas.filter((s) => s.state === 'half-open').length,
          children: st.ike_sas.reduce((n, s) => n + s.children.length, 0),
        };
      },
    };
  },
};
