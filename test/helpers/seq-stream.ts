import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { waitFor } from './netns.js';
import { repoRoot } from './paths.js';
import type { RecvReport } from '../tools/seq-udp.js';

/** The compiled stream tool (test/tools/seq-udp.ts). */
const TOOL = path.join(repoRoot, 'dist', 'test', 'tools', 'seq-udp.js');

export interface StreamResult {
  pps: number;
  sent: number;
  sendErrors: number;
  received: number;
  lost: number;
  duplicates: number;
  reordered: number;
  longestSilenceMs: number;
}

/**
 * A sequence-numbered UDP stream from one pod namespace to another (thousands of packets a
 * second). stop() ends the sender, waits (bounded) for the receiver to catch up with what was
 * sent, and returns the counts: lost = sent − distinct received.
 */
export class SeqStream {
  private lastReport: RecvReport | undefined;
  private constructor(private readonly receiver: ChildProcess, private readonly sender: ChildProcess, readonly pps: number, private readonly senderOut: { text: string }) {}

  static async start(from: { netns: string }, to: { netns: string; ip: string }, pps: number, port = 7999): Promise<SeqStream> {
    const receiver = spawn('ip', ['netns', 'exec', to.netns, process.execPath, TOOL, 'recv', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let listening = false;
    const holder: { s?: SeqStream } = {};
    receiver.stdout!.setEncoding('utf8');
    let buf = '';
    receiver.stdout!.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const v = JSON.parse(line) as RecvReport & { listening?: boolean };
        if (v.listening) listening = true;
        else if (holder.s) holder.s.lastReport = v;
      }
    });
    await waitFor(() => listening, 'the stream receiver listening', 10_000, 20);
    const senderOut = { text: '' };
    const sender = spawn('ip', ['netns', 'exec', from.netns, process.execPath, TOOL, 'send', to.ip, String(port), String(pps)], { stdio: ['ignore', 'pipe', 'inherit'] });
    sender.stdout!.setEncoding('utf8');
    sender.stdout!.on('data', (d: string) => { senderOut.text += d; });
    await waitFor(() => senderOut.text.includes('sending'), 'the stream sender started', 10_000, 20);
    holder.s = new SeqStream(receiver, sender, pps, senderOut);
    return holder.s;
  }

  /** The receiver's latest report (every 200 ms). */
  get report(): RecvReport | undefined {
    return this.lastReport;
  }

  /** Resolves once `n` more datagrams have arrived than when called: traffic flows now. */
  async flowing(n = 200, timeoutMs = 20_000): Promise<void> {
    await waitFor(() => this.lastReport !== undefined, 'a first receiver report', timeoutMs, 50);
    const base = this.lastReport!.distinct;
    await waitFor(() => this.lastReport!.distinct >= base + n, `${n} more stream datagrams arriving (stuck at ${this.lastReport?.distinct})`, timeoutMs, 50);
  }

  async stop(catchUpMs = 5000): Promise<StreamResult> {
    const done = once(this.sender, 'exit');
    this.sender.kill('SIGTERM');
    await done;
    const m = /\{"sent":(\d+),"send_errors":(\d+)\}/.exec(this.senderOut.text);
    if (!m) throw new Error(`stream sender said: ${this.senderOut.text}`);
    const sent = Number(m[1]);
    // Datagrams still in flight arrive within a moment; a lost one never does (bounded wait).
    await waitFor(() => (this.lastReport?.distinct ?? 0) >= sent, 'the receiver caught up', catchUpMs, 100).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    const exited = once(this.receiver, 'exit');
    this.receiver.kill('SIGTERM');
    await exited;
    const r = this.lastReport!;
    return {
      pps: this.pps, sent, sendErrors: Number(m[2]), received: r.received, lost: sent - r.distinct,
      duplicates: r.duplicates, reordered: r.reordered, longestSilenceMs: r.longestSilenceMs,
    };
  }

  /** Ends both processes at once (cleanup after a failure). */
  kill(): void {
    for (const p of [this.sender, this.receiver]) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }
}
