import type { ConnMemory, DesiredConnection, ObservedSa, Plan, PlanAction, PlanInput } from './plan.js';

/**
 * The agent's connection planner: for one peer, from what the store wants, what the IKE engine
 * holds and what was remembered, the actions that move the engine towards the wanted state. Pure
 * (no engine, no clock, no I/O): the same input gives the same plan, so it is tested by running it
 * against simulated engines (test/unit/agent-sim.ts). Its rules:
 *
 * - One connection per peer; a changed peer is another connection (removed, then added).
 * - Only the lower system-id initiates; the other end waits `responderGraceMs` for it first (the
 *   collision that can cause is resolved by the duplicate clean-up below).
 * - ESP for an SPI we do not know from a peer we hold no live IKE SA with: initiate now (the peer
 *   still has SAs we lost; our INITIAL_CONTACT makes it drop them). Rate limits: unknown-spi.ts.
 * - Re-authentication is make-before-break (strongSwan's make_before_break): a new IKE SA comes up
 *   next to the old ones, which are deleted once it carries every child. Only the initiator does
 *   it — for its own new credentials and for the peer's new certificate, once settled.
 * - Duplicates (both ends initiated or re-authenticated at once): the initiator keeps its newest
 *   complete IKE SA and the newest child of each name, and deletes the others, so both ends keep
 *   the same ones.
 */
export function planConnection(input: PlanInput): Plan {
  const { name, desired, now } = input;
  const actions: PlanAction[] = [];
  let memory = input.memory === undefined ? undefined : cloneMemory(input.memory);

  if (memory && (!desired || desired.hash !== memory.hash)) {
    actions.push({ kind: 'remove-connection', name, peerNode: desired?.peerNode, replaced: desired !== undefined });
    memory = undefined;
    // The removed connection's SAs are on their way out: look again once the engine shows that.
    if (desired) return { actions, memory, outcome: 'pending', recheckInMs: 0 };
  }
  if (!desired) return { actions, memory: undefined, outcome: 'ok' };
  if (!memory) {
    actions.push({ kind: 'add-connection', conn: desired });
    memory = freshMemory(desired, input.credsEpoch, now);
  }
  const plan = new ConnectionPlan(input, desired, memory, actions);
  plan.run();
  return plan.result();
}

function freshMemory(desired: DesiredConnection, credsEpoch: number, now: number): ConnMemory {
  return {
    hash: desired.hash, initiator: desired.initiator, noSaSince: now, attemptSince: undefined, childMissingSince: undefined, lastChildAttempt: undefined, credsEpoch,
    reauth: undefined, peerCert: undefined, peerCertChangedAt: undefined, deletingSas: [], deletingChildren: [],
  };
}

function cloneMemory(m: ConnMemory): ConnMemory {
  return { ...m, reauth: m.reauth && { old: [...m.reauth.old], since: m.reauth.since }, deletingSas: [...m.deletingSas], deletingChildren: [...m.deletingChildren] };
}

/** One plan in the making: the input, the memory being updated, the actions so far. */
class ConnectionPlan {
  private outcome: Plan['outcome'] = 'pending';
  private recheckAt: number | undefined;
  private readonly sas: ObservedSa[];
  private readonly now: number;

  constructor(
    private readonly input: PlanInput,
    private readonly desired: DesiredConnection,
    private readonly m: ConnMemory,
    private readonly actions: PlanAction[],
  ) {
    this.sas = input.observed;
    this.now = input.now;
    // Forget deletions the engine has finished.
    const serials = new Set(this.sas.map((s) => s.serial));
    const spis = new Set(this.sas.flatMap((s) => s.children.map((c) => c.spiIn)));
    m.deletingSas = m.deletingSas.filter((s) => serials.has(s));
    m.deletingChildren = m.deletingChildren.filter((s) => spis.has(s));
  }

  result(): Plan {
    const r: Plan = { actions: this.actions, memory: this.m, outcome: this.outcome };
    if (this.recheckAt !== undefined) r.recheckInMs = Math.max(0, this.recheckAt - this.now);
    return r;
  }

  run(): void {
    const epochMoved = this.m.credsEpoch !== this.input.credsEpoch;
    this.m.credsEpoch = this.input.credsEpoch;
    if (this.input.unknownSpi && !this.sas.some((s) => s.state !== 'deleting')) {
      this.initiate('unknown-spi');
      return;
    }
    if (this.sas.length === 0) {
      this.noSa();
      return;
    }
    this.m.noSaSince = undefined;
    if (this.sas.some((s) => s.state === 'established')) this.m.attemptSince = undefined;
    if (this.m.initiator) {
      // Our own new credentials (the reload asked for it), or the peer's new certificate.
      if (epochMoved) this.reauthenticate('credentials');
      else this.watchPeerCert();
    }
    // A plan that finished a re-authentication deleted SAs: the rest waits for the next look,
    // when the engine shows them deleting.
    if (this.m.reauth && this.finishReauth()) return;
    const up = this.sas.find((s) => s.state === 'established');
    if (up) this.outcome = 'ok';
    if (!up || !this.m.initiator) return;
    if (!this.m.reauth) this.deleteDuplicateSas();
    this.deleteDuplicateChildren(up);
    this.createMissingChildren(up);
  }

  private noSa(): void {
    this.m.noSaSince ??= this.now;
    const graceEnds = this.m.noSaSince + this.input.timing.responderGraceMs;
    if (this.m.initiator) this.initiate('initiator');
    else if (this.now >= graceEnds) this.initiate('responder-grace');
    else this.recheck(graceEnds);
  }

  private initiate(reason: 'initiator' | 'responder-grace' | 'unknown-spi'): void {
    // An earlier initiation of ours came to nothing: starting again is a failure to back off from.
    if (this.m.attemptSince !== undefined) this.outcome = 'failed';
    this.actions.push({ kind: 'initiate', name: this.desired.name, reason, peerAddress: this.desired.peerAddress });
    this.m.noSaSince = this.now;
    this.m.attemptSince = this.now;
  }

  /** The initiator re-authenticates for the peer's new certificate once it has stood `peerCertSettleMs` (its agent loads the files a moment after reporting them). */
  private watchPeerCert(): void {
    const serial = this.desired.peerCert;
    if (this.m.peerCert === undefined || serial === undefined) {
      this.m.peerCert ??= serial;
      return;
    }
    if (serial === this.m.peerCert) {
      this.m.peerCertChangedAt = undefined;
      return;
    }
    this.m.peerCertChangedAt ??= this.now;
    const settled = this.m.peerCertChangedAt + this.input.timing.peerCertSettleMs;
    if (this.now < settled) {
      this.recheck(settled);
      return;
    }
    this.m.peerCert = serial;
    this.m.peerCertChangedAt = undefined;
    this.reauthenticate('peer-certificate', serial);
  }

  /** Starts a new IKE SA next to the live ones, which it will replace. */
  private reauthenticate(cause: 'credentials' | 'peer-certificate' | 'retry', peerCert?: string): void {
    const old = this.sas.map((s) => s.serial);
    this.m.reauth = { old, since: this.now };
    this.m.attemptSince = this.now;
    this.actions.push({ kind: 'reauthenticate', name: this.desired.name, replaces: old, cause, ...(peerCert === undefined ? {} : { peerCert }) });
    this.recheck(this.now + this.input.timing.reauthRetryMs);
  }

  /**
   * The break of make-before-break: once an IKE SA made after the re-authentication started is
   * established and complete, the SAs it replaces are deleted. A new SA that never came (refused,
   * peer busy) is asked for again. Returns whether SAs were deleted.
   */
  private finishReauth(): boolean {
    const r = this.m.reauth!;
    const old = new Set(r.old);
    const fresh = this.sas.filter((s) => !old.has(s.serial));
    if (fresh.some((s) => s.state === 'established' && this.complete(s))) {
      const replaced = this.sas.filter((s) => old.has(s.serial));
      for (const s of replaced) this.deleteSa(s.serial, 'reauthenticated');
      this.m.reauth = undefined;
      this.m.attemptSince = undefined;
      return replaced.length > 0;
    }
    if (!this.sas.some((s) => old.has(s.serial))) {
      // The old SAs went on their own (the peer deleted them): nothing left to replace.
      this.m.reauth = undefined;
    } else if (fresh.length === 0 && this.now - r.since >= this.input.timing.reauthRetryMs) {
      this.outcome = 'failed';
      this.reauthenticateAgain(r);
    } else if (fresh.length === 0) {
      this.recheck(r.since + this.input.timing.reauthRetryMs);
    }
    return false;
  }

  private reauthenticateAgain(r: { old: number[]; since: number }): void {
    r.since = this.now;
    this.actions.push({ kind: 'reauthenticate', name: this.desired.name, replaces: [...r.old], cause: 'retry' });
    this.recheck(this.now + this.input.timing.reauthRetryMs);
  }

  /** More than one IKE SA: keep the newest complete one, delete the other established ones (the peer's included). */
  private deleteDuplicateSas(): void {
    const keep = this.sas.filter((s) => s.state === 'established' && this.complete(s)).sort((x, y) => y.serial - x.serial)[0];
    if (!keep) return;
    for (const s of this.sas) if (s !== keep && s.state === 'established') this.deleteSa(s.serial, 'duplicate', keep.serial);
  }

  /** Two installed children of one name (both ends created it at once): delete the older, so both ends keep the same one. A rekey's old child is 'rekeyed', not counted. */
  private deleteDuplicateChildren(up: ObservedSa): void {
    const byName = new Map<string, ObservedSa['children']>();
    for (const c of up.children) if (c.state === 'installed') byName.set(c.name, [...(byName.get(c.name) ?? []), c]);
    for (const list of byName.values()) {
      for (const old of list.sort((x, y) => y.serial - x.serial).slice(1)) {
        if (this.m.deletingChildren.includes(old.spiIn)) continue;
        this.m.deletingChildren.push(old.spiIn);
        this.actions.push({ kind: 'delete-child', name: this.desired.name, child: old.name, serial: old.serial, spiIn: old.spiIn });
      }
    }
  }

  /**
   * A child that failed or was deleted while its IKE SA lives: ask for it again once it has been
   * missing for `childGraceMs` (right after IKE_AUTH the engine is still making the other
   * children itself), and then at most every `childRetryMs`.
   */
  private createMissingChildren(up: ObservedSa): void {
    const missing = this.desired.config.children.map((c) => c.name).filter((n) => !up.children.some((c) => c.name === n));
    if (missing.length === 0) {
      this.m.childMissingSince = undefined;
      return;
    }
    this.m.childMissingSince ??= this.now;
    const t = this.input.timing;
    const due = Math.max(this.m.childMissingSince + t.childGraceMs, this.m.lastChildAttempt === undefined ? -Infinity : this.m.lastChildAttempt + t.childRetryMs);
    if (this.now < due) {
      this.recheck(due);
      return;
    }
    this.m.lastChildAttempt = this.now;
    for (const child of missing) this.actions.push({ kind: 'create-child', name: this.desired.name, child });
    this.recheck(this.now + t.childRetryMs);
  }

  private deleteSa(serial: number, reason: 'reauthenticated' | 'duplicate', keep?: number): void {
    if (this.m.deletingSas.includes(serial)) return;
    this.m.deletingSas.push(serial);
    this.actions.push({ kind: 'delete-ike-sa', name: this.desired.name, serial, reason, ...(keep === undefined ? {} : { keep }) });
  }

  /**
   * Every child of the connection installed, and installed at the peer too: children we made
   * ourselves (not answered), since the peer installs an answered child only when our answer
   * arrives. Old SAs are deleted only in favour of such an SA: our outbound then moves to pairs
   * the peer certainly has.
   */
  private complete(sa: ObservedSa): boolean {
    const made = new Set(sa.children.filter((c) => c.state === 'installed' && !c.answered).map((c) => c.name));
    return this.desired.config.children.every((c) => made.has(c.name));
  }

  private recheck(at: number): void {
    this.recheckAt = this.recheckAt === undefined ? at : Math.min(this.recheckAt, at);
  }
}
