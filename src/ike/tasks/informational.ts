import { ExchangeType, Notify, NOTIFY_ERROR_MAX, NOTIFY_NAMES, PayloadType, ProtocolId } from '../constants.js';
import type { EngineContext } from '../context.js';
import type { IkeMessage } from '../message/message.js';
import { findPayloads, notifies, type Payload } from '../message/payloads.js';
import type { ChildSa } from '../sa/child-sa.js';
import type { IkeSa } from '../sa/ike-sa.js';
import { DONE, destroy, type Task } from './task.js';

/** INFORMATIONAL exchanges (RFC 7296 §1.4): liveness checks and DELETE of CHILD and IKE SAs. */

function spi4(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

export function dpdTask(ctx: EngineContext, sa: IkeSa): Task {
  return {
    name: 'DPD',
    exchange: ExchangeType.INFORMATIONAL,
    build: () => (sa.state === 'established' || sa.state === 'rekeying' || sa.state === 'rekeyed' ? [] : DONE),
    onResponse: () => DONE,
    onGiveUp() {
      ctx.log(sa, 'liveness check failed: peer is dead, deleting IKE SA');
      return destroy('DPD: peer not responding');
    },
  };
}

export function deleteChildTask(ctx: EngineContext, sa: IkeSa, child: ChildSa): Task {
  return {
    name: 'CHILD_DELETE',
    exchange: ExchangeType.INFORMATIONAL,
    build() {
      if (!sa.children.includes(child)) return DONE;
      child.transition('deleting');
      // The peer drops its inbound SA when the DELETE arrives: our outbound leaves it now, not
      // when the answer comes back, or what we send meanwhile is lost.
      ctx.emit({ kind: 'child-retiring', spiIn: child.spiIn });
      return [{ type: PayloadType.DELETE, protocolId: ProtocolId.ESP, spiSize: 4, spis: [spi4(child.spiIn)] }];
    },
    onResponse() {
      ctx.childDown(sa, child, 'deleted');
      return DONE;
    },
    rehome: (successor) => deleteChildTask(ctx, successor, child),
    // The peer may have dropped the child on our DELETE while its answer was lost with the old
    // IKE SA; asked again it answers without it (§1.4.1), and the child goes here too.
    resend: (successor) => deleteChildTask(ctx, successor, child),
  };
}

export function deleteIkeTask(ctx: EngineContext, sa: IkeSa, reason: string): Task {
  return {
    name: 'IKE_DELETE',
    exchange: ExchangeType.INFORMATIONAL,
    build() {
      if (sa.state !== 'deleting') ctx.transition(sa, 'deleting', reason);
      ctx.log(sa, 'deleting IKE SA');
      for (const c of sa.children) ctx.emit({ kind: 'child-retiring', spiIn: c.spiIn });
      return [{ type: PayloadType.DELETE, protocolId: ProtocolId.IKE, spiSize: 0, spis: [] }];
    },
    onResponse: () => destroy(reason),
    onGiveUp: () => destroy(reason),
  };
}

/**
 * Responder side. Returns the response payloads and whether the IKE SA is to be destroyed after
 * the response went out.
 */
export function respondInformational(ctx: EngineContext, sa: IkeSa, msg: IkeMessage): { payloads: Payload[]; destroy?: string } {
  const out: Payload[] = [];
  for (const d of findPayloads(msg.payloads, PayloadType.DELETE)) {
    if (d.protocolId === ProtocolId.IKE) {
      ctx.log(sa, 'received Delete SA payload: deleting IKE SA');
      return { payloads: [], destroy: 'deleted by peer' };
    }
    if (d.protocolId !== ProtocolId.ESP || d.spiSize !== 4) continue;
    const ours: Buffer[] = [];
    for (const spi of d.spis) {
      const v = spi.readUInt32BE(0);
      // The peer may still use the old IKE SA for children that moved to its successor.
      const child = sa.children.find((c) => c.spiOut === v) ?? sa.current.children.find((c) => c.spiOut === v);
      if (!child) {
        // Possibly a child our outstanding CREATE_CHILD_SA is creating: remember, so it is never installed.
        if (sa.outstanding?.task.exchange === ExchangeType.CREATE_CHILD_SA) sa.earlyDeletes.add(v);
        continue;
      }
      ctx.log(sa, `received Delete SA payload: deleting IPsec SA ${'0x' + v.toString(16).padStart(8, '0')}`, child);
      // If we were deleting it too (simultaneous delete), no need to answer with its SPI again but harmless.
      ours.push(spi4(child.spiIn));
      ctx.childDown(sa, child, 'deleted by peer');
    }
    if (ours.length > 0) out.push({ type: PayloadType.DELETE, protocolId: ProtocolId.ESP, spiSize: 4, spis: ours });
  }
  const err = notifies(msg.payloads).find((n) => n.notifyType <= NOTIFY_ERROR_MAX);
  if (err && (err.notifyType === Notify.AUTHENTICATION_FAILED || sa.state !== 'established')) {
    const name = NOTIFY_NAMES[err.notifyType] ?? String(err.notifyType);
    ctx.log(sa, `received ${name} in INFORMATIONAL: deleting IKE SA`);
    return { payloads: [], destroy: name };
  }
  return { payloads: out };
}
