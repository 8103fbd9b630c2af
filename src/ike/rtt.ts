/**
 * The first retransmission timeout of a request, from the round trips of answered ones. RFC 7296
 * §2.4 leaves the timer to the implementation; a fixed one chosen for an idle LAN (the agent's 1 s)
 * turns into a storm when the peers — or we — are busy: every late answer costs a retransmission,
 * which makes everyone busier. This is TCP's estimator (RFC 6298): a smoothed round trip and its
 * variation, RTO = SRTT + 4·RTTVAR, sampled only from requests answered without a retransmission
 * (Karn: the answer to a retransmitted request cannot be matched to one send). The exponential
 * back-off of later tries stays the policy's. One estimator per engine: the round trip to a peer is
 * mostly the two hosts' load, and a peer not yet spoken to gets the others' figure.
 *
 * A request that needs a retransmission measures nothing, and a round trip longer than the timeout
 * would then never be measured: as Karn's algorithm has it, a retransmission doubles the timeout
 * (within the bounds) until a request is answered at its first send again.
 *
 * Clamped to [floor, ceiling]: the configured timeout is the floor (a quiet network keeps the
 * configured behaviour: answers in milliseconds never shorten it), the ceiling bounds how long a
 * lost request waits.
 */
export class RttEstimator {
  private srtt: number | undefined;
  private rttvar = 0;
  private backedOff: number | undefined;

  constructor(readonly floorMs: number, readonly ceilingMs: number) {
    if (!(floorMs > 0) || !(ceilingMs >= floorMs)) throw new RangeError(`RTO bounds must satisfy 0 < floor <= ceiling, got ${floorMs}, ${ceilingMs}`);
  }

  /** A round trip (ms) of a request answered at its first send. */
  sample(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.backedOff = undefined;
    if (this.srtt === undefined) {
      this.srtt = ms;
      this.rttvar = ms / 2;
      return;
    }
    this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - ms);
    this.srtt = 0.875 * this.srtt + 0.125 * ms;
  }

  /** The smoothed round trip (ms), undefined before the first sample. */
  get smoothedMs(): number | undefined {
    return this.srtt;
  }

  /** A request had to be sent again: the timeout doubles until the next measured round trip. */
  backOff(): void {
    this.backedOff = Math.min(this.ceilingMs, 2 * this.rtoMs);
  }

  /** The first retransmission timeout (ms). */
  get rtoMs(): number {
    if (this.backedOff !== undefined) return this.backedOff;
    if (this.srtt === undefined) return this.floorMs;
    return Math.min(this.ceilingMs, Math.max(this.floorMs, Math.round(this.srtt + 4 * this.rttvar)));
  }
}
