import type { EngineCore } from './core.js';
import { giveUpAfterMs, type IkeSa } from './sa/ike-sa.js';
import { createChildTask } from './tasks/create-child.js';
import { ikeRekeyTask } from './tasks/ike-rekey.js';
import { deleteChildTask, dpdTask } from './tasks/informational.js';

/**
 * Time in the engine: the earliest deadline of any IKE SA, and what happens when deadlines pass —
 * retransmissions with back-off (§2.1) and giving up, half-open and rekeyed SAs expiring, IKE and
 * CHILD rekeys, liveness checks (§2.4) only when the peer was silent for dpd_delay.
 */
export function nextDeadline(core: EngineCore): number | undefined {
  let d: number | undefined;
  const min = (t: number | undefined): void => {
    if (t !== undefined && (d === undefined || t < d)) d = t;
  };
  min(core.pacer.wakeAt());
  for (const sa of core.table.all) {
    min(sa.outstanding?.deadline);
    min(sa.expireAt);
    if (sa.state === 'established') {
      min(sa.rekeyAt);
      min(sa.dpdAt);
      for (const c of sa.children) min(c.rekeyAt);
    }
  }
  return d;
}

/**
 * Inbound ESP on a child proves the peer alive (as strongSwan counts it): the data path is asked
 * when a liveness check is due, rather than told of every packet.
 */
function noteEspUse(core: EngineCore, sa: IkeSa): void {
  const lastInbound = core.opts.lastInbound;
  if (lastInbound === undefined) return;
  for (const c of sa.children) {
    const at = lastInbound(c.spiIn);
    if (at !== undefined && at > sa.lastHeard) sa.lastHeard = at;
  }
}

/** Fires every deadline at or before `now`; each one that fires is consumed (or the driver would spin). */
export function fireDeadlines(core: EngineCore, now: number): void {
  const { ctx, timers } = core;
  for (const sa of [...core.table.all]) {
    if (sa.isClosed()) continue;
    const out = sa.outstanding;
    if (out && out.deadline <= now) {
      if (out.tries >= timers.retransmit.tries || now - out.sentAt >= giveUpAfterMs(timers.retransmit)) {
        sa.outstanding = undefined;
        if (out.task.onGiveUp) core.apply(sa, out.task.onGiveUp());
        else core.destroy(sa, 'peer not responding');
        if (sa.isClosed()) continue;
        core.pump(sa);
      } else {
        out.tries++;
        core.counters.retransmits++;
        if (out.tries === 1) core.rtt.backOff();
        if (sa.initiator && sa.establishedAt === undefined) core.pacer.retransmitting(sa.serial);
        out.deadline = sa.retransmitDeadline(timers.retransmit, out.tries, now, out.firstMs, out.sentAt);
        ctx.log(sa, `retransmitting ${out.task.name} request (try ${out.tries + 1})`);
        core.send(sa, out.packets);
      }
    }
    if (sa.expireAt !== undefined && sa.expireAt <= now) {
      if (sa.state === 'established') sa.expireAt = undefined;
      else {
        const halfOpen = sa.state === 'authenticating' && !sa.initiator && sa.rekeyOf === undefined;
        core.destroy(sa, halfOpen ? 'half-open timeout' : sa.state === 'rekeyed' || sa.replacedBy ? 'rekeyed' : 'expired');
        continue;
      }
    }
    if (sa.state !== 'established') continue;
    if (sa.rekeyAt !== undefined && sa.rekeyAt <= now) {
      sa.rekeyAt = undefined;
      core.queue(sa, ikeRekeyTask(ctx, sa));
    }
    if (sa.dpdAt !== undefined && sa.dpdAt <= now) {
      noteEspUse(core, sa);
      const delay = sa.livenessDelayMs();
      const silent = now - sa.lastHeard >= delay;
      if (silent && !sa.outstanding && sa.queue.length === 0) core.queue(sa, dpdTask(ctx, sa));
      // Heard from lately: the next check is due dpd_delay after that, not after this check.
      sa.dpdAt = silent ? now + delay : sa.lastHeard + delay;
    }
    for (const c of [...sa.children]) {
      if (c.rekeyAt === undefined || c.rekeyAt > now) continue;
      c.rekeyAt = undefined;
      if (c.state === 'installed') core.queue(sa, createChildTask(ctx, sa, c.cfg, c));
      else if (c.state === 'rekeyed') core.queue(sa, deleteChildTask(ctx, sa, c));
    }
  }
}
