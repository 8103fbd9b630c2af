/**
 * A per-key work queue with rate-limited requeue (the idea of Kubernetes' workqueue and
 * sample-controller's `AddRateLimited`): a key waits at most once, however often it is asked for;
 * one key is synced at a time; a key asked for while it is being synced is synced once more
 * afterwards; a sync that fails comes back after an exponential, capped, per-key delay, and one
 * that succeeds resets that delay. While a key's back-off runs, nothing brings it forward — that
 * is what makes it a back-off — except `forget`, for news that the failure is over.
 */

/** The clock and timers the queue runs on (injected in tests). */
export interface QueueClock {
  now(): number;
  /** Calls `fn` after `ms`; returns a function that cancels it. */
  setTimer(fn: () => void, ms: number): () => void;
}

export const systemClock: QueueClock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

export interface BackoffOptions {
  /** The delay after a key's first failure (ms); it doubles with each further failure. */
  baseMs: number;
  /** The longest delay (ms). */
  capMs: number;
}

/** Per-key exponential back-off: `base · 2^(failures − 1)`, at most `cap`; `forget` resets a key. */
export class ItemBackoff<K> {
  private readonly failures = new Map<K, number>();

  constructor(private readonly opts: BackoffOptions) {}

  /** Counts one more failure of `key` and returns how long it waits. */
  next(key: K): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    return Math.min(this.opts.capMs, this.opts.baseMs * 2 ** Math.min(n, 30));
  }

  failuresOf(key: K): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: K): void {
    this.failures.delete(key);
  }
}

/**
 * What a sync says about its key: `ok` — the key is where it should be (its back-off resets);
 * `failed` — try again after the key's back-off; `pending` — on its way (the back-off stays as it
 * is). `recheckInMs`: look again after this long at the latest (a timer the sync is waiting on).
 */
export interface SyncResult {
  outcome: 'ok' | 'failed' | 'pending';
  recheckInMs?: number;
}

export interface WorkQueueOptions<K> {
  /** Syncs one key. Throwing counts as `failed`. */
  sync: (key: K) => Promise<SyncResult | void> | SyncResult | void;
  /** A sync threw; it is tried again in `retryInMs`. */
  onError: (key: K, err: Error, retryInMs: number) => void;
  clock?: QueueClock;
  backoff?: BackoffOptions;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1000, capMs: 30_000 };

export class WorkQueue<K> {
  private readonly clock: QueueClock;
  readonly backoff: ItemBackoff<K>;
  /** Keys ready to sync, in the order they became ready. */
  private readonly ready = new Set<K>();
  /** Keys waiting for a time: when, and the timer's cancel. */
  private readonly waiting = new Map<K, { at: number; cancel: () => void }>();
  /** Not before this time (a failed key's back-off). */
  private readonly notBefore = new Map<K, number>();
  private processing: K | undefined;
  private dirty = false;
  private worker: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly opts: WorkQueueOptions<K>) {
    this.clock = opts.clock ?? systemClock;
    this.backoff = new ItemBackoff(opts.backoff ?? DEFAULT_BACKOFF);
  }

  /** Asks for a sync of `key` as soon as its back-off allows. */
  add(key: K): void {
    this.addAfter(key, 0);
  }

  /** Asks for a sync of `key` in `ms` (or later, when its back-off runs longer). */
  addAfter(key: K, ms: number): void {
    if (this.stopped) return;
    if (this.processing === key && ms <= 0 && !this.notBefore.has(key)) {
      this.dirty = true;
      return;
    }
    const now = this.clock.now();
    const at = Math.max(now + Math.max(0, ms), this.notBefore.get(key) ?? -Infinity);
    if (this.ready.has(key)) return;
    if (at <= now) {
      this.cancelWait(key);
      this.ready.add(key);
      this.startWorker();
      return;
    }
    const w = this.waiting.get(key);
    if (w && w.at <= at) return;
    w?.cancel();
    this.waiting.set(key, { at, cancel: this.clock.setTimer(() => this.fire(key), at - now) });
  }

  /** The failure of `key` is over: its back-off resets, and an `add` after this is no longer held back. */
  forget(key: K): void {
    this.backoff.forget(key);
    this.notBefore.delete(key);
  }

  /** Failures counted for `key` since it last succeeded. */
  failures(key: K): number {
    return this.backoff.failuresOf(key);
  }

  /** When `key` is due: 'ready', a time, or undefined when it is not queued. */
  dueOf(key: K): number | 'ready' | undefined {
    if (this.ready.has(key)) return 'ready';
    return this.waiting.get(key)?.at;
  }

  /** Resolves once no key is ready or being synced (waiting keys may remain). */
  async idle(): Promise<void> {
    while (this.worker) await this.worker;
  }

  /** Nothing is synced after this; waits for the sync in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.waiting.values()) w.cancel();
    this.waiting.clear();
    this.ready.clear();
    await this.idle();
  }

  private fire(key: K): void {
    this.waiting.delete(key);
    if (this.stopped) return;
    this.ready.add(key);
    this.startWorker();
  }

  private cancelWait(key: K): void {
    this.waiting.get(key)?.cancel();
    this.waiting.delete(key);
  }

  private startWorker(): void {
    if (this.worker || this.stopped) return;
    this.worker = (async () => {
      try {
        // Syncs start out of the caller's stack (an event handler, a timer).
        await Promise.resolve();
        for (let key = this.take(); key !== undefined && !this.stopped; key = this.take()) await this.syncOne(key);
      } finally {
        this.worker = undefined;
      }
    })();
  }

  private take(): K | undefined {
    const next = this.ready.values().next();
    if (next.done) return undefined;
    this.ready.delete(next.value);
    return next.value;
  }

  private async syncOne(key: K): Promise<void> {
    this.processing = key;
    this.dirty = false;
    let result: SyncResult;
    try {
      result = (await this.opts.sync(key)) ?? { outcome: 'ok' };
    } catch (err) {
      const delay = this.fail(key);
      this.opts.onError(key, err as Error, delay);
      result = { outcome: 'pending' };
    } finally {
      this.processing = undefined;
    }
    if (result.outcome === 'ok') this.forget(key);
    if (result.outcome === 'failed') this.fail(key);
    if (result.recheckInMs !== undefined) this.addAfter(key, result.recheckInMs);
    if (this.dirty) this.add(key);
  }

  /** Counts a failure of `key` and queues it after its back-off; returns the delay. */
  private fail(key: K): number {
    const delay = this.backoff.next(key);
    this.notBefore.set(key, this.clock.now() + delay);
    this.addAfter(key, delay);
    return delay;
  }
}
