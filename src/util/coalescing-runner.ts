/**
 * Runs an async pass (a reconcile loop's) one at a time: a request while a pass is in flight
 * marks it dirty, and one more pass follows — any number of requests coalesce into it. A failed
 * pass is reported and the loop waits for the next request, as controllers do.
 */
export class CoalescingRunner {
  private running: Promise<void> | undefined;
  private dirty = false;
  private stopped = false;

  constructor(
    private readonly pass: () => Promise<void>,
    private readonly onError: (err: Error) => void,
  ) {}

  /** Asks for a pass; passes are serialized and coalesced. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.dirty = true;
      return;
    }
    this.running = (async () => {
      try {
        do {
          this.dirty = false;
          try {
            await this.pass();
          } catch (err) {
            this.onError(err as Error);
          }
        } while (this.dirty && !this.stopped);
      } finally {
        this.running = undefined;
      }
    })();
  }

  /** Runs a pass now (or waits for the one in flight and runs another), and waits for it. */
  async runNow(): Promise<void> {
    await this.idle();
    this.kick();
    await this.idle();
  }

  /** Resolves once no pass is in flight. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** No passes start after this; waits for the one in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle();
  }
}
