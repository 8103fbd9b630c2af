import { watch as fsWatch } from 'node:fs';
import { TEMP_PREFIX } from './atomic-file.js';

/**
 * Tells the store's watchers when one collection directory may have changed, so they rescan that
 * directory and nothing else. Changes are learned from inotify (fs.watch) as they happen; a rare
 * safety rescan (jittered, so many agents do not rescan in step) catches what inotify can lose
 * (a queue overflow, a directory watched from another mount namespace). Without inotify at all
 * (no watch could be made, or it failed later) the directory is polled at `pollMs` instead.
 *
 * Idle cost is what matters at scale: with N agents each watching directories of N documents,
 * a fixed fast poll costs N × N directory reads per period even when nothing changes.
 */

/** The source of "something changed in this directory" events; fs.watch unless a test injects one. */
export type DirEvents = (dir: string, onChange: (file: string | null) => void, onError: (err: Error) => void) => { close(): void };

export interface DirMonitorOptions {
  /** Mean time between safety rescans while inotify works (ms); each wait is jittered ±25 %. */
  safetyRescanMs: number;
  /** Poll period when inotify cannot be used (ms). */
  pollMs: number;
  /** Events within this time are folded into one rescan (a write is several events: temp, link, unlink). */
  settleMs?: number;
  events?: DirEvents;
}

export const inotifyEvents: DirEvents = (dir, onChange, onError) => {
  const w = fsWatch(dir, (_type, file) => onChange(typeof file === 'string' ? file : null));
  w.on('error', onError);
  return w;
};

export class DirMonitor {
  private readonly subscribers = new Set<() => void>();
  private source: { close(): void } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pending: NodeJS.Timeout | undefined;
  /** True while changes come from events; false when polling. */
  private evented = false;

  constructor(
    private readonly dir: string,
    private readonly opts: DirMonitorOptions,
  ) {}

  /** How changes are learned right now (for tests and diagnostics). */
  get mode(): 'events' | 'poll' | 'idle' {
    return this.subscribers.size === 0 ? 'idle' : this.evented ? 'events' : 'poll';
  }

  /** Calls `rescan` now, after every change and at every safety rescan, until the returned stop is called. */
  subscribe(rescan: () => void): () => void {
    this.subscribers.add(rescan);
    if (this.subscribers.size === 1) this.start();
    rescan();
    return () => {
      if (!this.subscribers.delete(rescan)) return;
      if (this.subscribers.size === 0) this.stop();
    };
  }

  private start(): void {
    try {
      this.source = (this.opts.events ?? inotifyEvents)(this.dir, (file) => this.changed(file), () => this.fallBackToPolling());
      this.evented = true;
    } catch {
      this.evented = false; // e.g. ENOSPC: the inotify instance or watch limit is reached
    }
    this.schedule();
  }

  private stop(): void {
    this.source?.close();
    this.source = undefined;
    this.evented = false;
    clearTimeout(this.timer);
    clearTimeout(this.pending);
    this.timer = this.pending = undefined;
  }

  private fallBackToPolling(): void {
    this.source?.close();
    this.source = undefined;
    this.evented = false;
    this.schedule();
  }

  private changed(file: string | null): void {
    // A writer's temp file is never a document; its link to the revision name is an event of its own.
    if (file?.startsWith(TEMP_PREFIX)) return;
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.notify();
    }, this.opts.settleMs ?? 10);
  }

  private schedule(): void {
    clearTimeout(this.timer);
    if (this.subscribers.size === 0) return;
    const wait = this.evented ? this.opts.safetyRescanMs * (0.75 + Math.random() / 2) : this.opts.pollMs;
    this.timer = setTimeout(() => {
      this.notify();
      this.schedule();
    }, wait);
    this.timer.unref();
  }

  private notify(): void {
    for (const rescan of [...this.subscribers]) rescan();
  }
}
