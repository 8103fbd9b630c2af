#!/usr/bin/env node
// A sequence-numbered UDP stream, run inside pod namespaces by the fault and rekey tests:
//   seq-udp recv PORT              — counts what arrives; prints a JSON report line every 200 ms
//                                    and a last one on SIGTERM
//   seq-udp send HOST PORT PPS     — sends datagrams numbered 0,1,2… at PPS a second until
//                                    SIGTERM, then prints {"sent":N}
// Each datagram: 8-byte sequence number, 8-byte send time (ms, for gap timing), 48 bytes of
// padding (a 64-byte payload, small enough to never fragment). Loss is judged by the test as
// sent − distinct received, once the receiver has caught up.
import dgram from 'node:dgram';

const PAYLOAD = 64;

export interface RecvReport {
  received: number;
  distinct: number;
  duplicates: number;
  /** Datagrams that arrived after a higher sequence number. */
  reordered: number;
  /** Highest sequence number seen (-1: none). */
  max: number;
  /** Sequence numbers missing below max (gaps not yet filled). */
  missing: number;
  /** The longest time between two consecutive arrivals (ms): an outage while traffic flowed. */
  longestSilenceMs: number;
  /** When the longest silence ended, as the receiver's clock (ms since epoch). */
  longestSilenceEndedAt: number;
}

function recv(port: number): void {
  const seen = new Set<number>();
  const r: RecvReport = { received: 0, distinct: 0, duplicates: 0, reordered: 0, max: -1, missing: 0, longestSilenceMs: 0, longestSilenceEndedAt: 0 };
  let last = 0;
  const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 << 20 });
  s.on('message', (m) => {
    if (m.length < 16) return;
    const now = Date.now();
    if (last && now - last > r.longestSilenceMs) {
      r.longestSilenceMs = now - last;
      r.longestSilenceEndedAt = now;
    }
    last = now;
    const seq = Number(m.readBigUInt64BE(0));
    r.received++;
    if (seen.has(seq)) {
      r.duplicates++;
      return;
    }
    seen.add(seq);
    r.distinct++;
    if (seq < r.max) r.reordered++;
    else r.max = seq;
  });
  const report = (): void => {
    r.missing = r.max + 1 - r.distinct;
    process.stdout.write(JSON.stringify(r) + '\n');
  };
  s.bind(port, () => {
    process.stdout.write('{"listening":true}\n');
    setInterval(report, 200);
  });
  process.once('SIGTERM', () => {
    report();
    process.exit(0);
  });
}

function send(host: string, port: number, pps: number): void {
  const s = dgram.createSocket({ type: 'udp4', sendBufferSize: 4 << 20 });
  const buf = Buffer.alloc(PAYLOAD);
  let seq = 0;
  let failed = 0;
  const t0 = process.hrtime.bigint();
  // Every 5 ms, send as many as are due since the start: the rate holds even when timers are late.
  const tick = (): void => {
    const due = Math.floor((Number(process.hrtime.bigint() - t0) / 1e9) * pps);
    while (seq < due) {
      const b = Buffer.from(buf);
      b.writeBigUInt64BE(BigInt(seq), 0);
      b.writeBigUInt64BE(BigInt(Date.now()), 8);
      s.send(b, port, host, (err) => { if (err) failed++; });
      seq++;
    }
  };
  const timer = setInterval(tick, 5);
  process.once('SIGTERM', () => {
    clearInterval(timer);
    // Let queued sends finish so "sent" counts only what left the socket.
    setTimeout(() => {
      process.stdout.write(JSON.stringify({ sent: seq, send_errors: failed }) + '\n');
      process.exit(0);
    }, 100);
  });
  process.stdout.write('{"sending":true}\n');
}

const [mode, a, b, c] = process.argv.slice(2);
if (mode === 'recv') recv(Number(a));
else if (mode === 'send') send(a!, Number(b), Number(c));
else {
  process.stderr.write('usage: seq-udp recv PORT | seq-udp send HOST PORT PPS\n');
  process.exit(2);
}
