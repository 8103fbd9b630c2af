/**
 * A store watch that runs only while it is wanted. A watch is not free on the directory store:
 * every change in its collection makes it list the directory and read what changed, in every
 * agent. The peers' data-plane reports change with every child SA a node installs (they name the
 * inbound SPIs held) but matter to a node only while one of its pairs switches IPsec on or off;
 * watched always, they were a large part of the agents' work while a mesh came up.
 */
export class OnDemandWatch {
  private stopWatch: (() => void) | undefined;

  /** `start` begins the watch (its first listing reports what is there) and returns its stop. */
  constructor(private readonly start: () => () => void) {}

  get running(): boolean {
    return this.stopWatch !== undefined;
  }

  /** Starts or stops the watch (nothing when it already is as wanted). */
  want(on: boolean): void {
    if (on && !this.stopWatch) this.stopWatch = this.start();
    else if (!on && this.stopWatch) {
      this.stopWatch();
      this.stopWatch = undefined;
    }
  }
}
