import type { IpsecStack } from '../host/ipsec-stack.js';
import type { ControlRequest, ControlResponse } from '../host/control-protocol.js';
import type { Logger } from '../util/log.js';
import type { IkeConnection } from './ike-config.js';

/**
 * ipsecd's policy for its IKE connections, on the IPsec stack: starts them per start_action,
 * starts trap connections when their traffic finds no SA, answers initiate/rekey/terminate.
 */
export class IkeService {
  constructor(private readonly conns: readonly IkeConnection[], private readonly stack: IpsecStack, private readonly log: Logger) {}

  /** start_action start: initiate now; trap waits for a packet; none waits for `ipsec initiate`. */
  start(): void {
    for (const c of this.conns) if (c.startAtBoot) this.stack.initiate(c.name);
  }

  has(conn: string): boolean {
    return this.conns.some((c) => c.name === conn);
  }

  /**
   * Packets the data path refused for want of an SA start the trap connections that have none.
   * Those packets are dropped (never sent in clear); the sender's retransmission rides the new SA.
   */
  onOutboundWithoutSa(): void {
    const up = new Set(this.stack.engine.sas().map((s) => s.connection));
    for (const c of this.conns) {
      if (c.trap && !up.has(c.name)) {
        this.log.info({ conn: c.name }, `"${c.name}": initiating on a packet matching a trap policy`);
        this.stack.initiate(c.name);
      }
    }
  }

  control(req: Exclude<ControlRequest, { cmd: 'status' }>): ControlResponse {
    const conn = this.conns.find((c) => c.name === req.conn)!;
    if (req.child !== undefined && !conn.children.some((c) => c.child === req.child)) {
      return { ok: false, error: `connection "${req.conn}" has no child named "${req.child}"` };
    }
    const stack = this.stack;
    const established = stack.engine.sas(req.conn).some((s) => s.state === 'established');
    let ok = true;
    let why = '';
    switch (req.cmd) {
      case 'initiate':
        if (req.child !== undefined && established) ok = stack.createChild(req.conn, req.child);
        else stack.initiate(req.conn);
        break;
      case 'rekey':
        ok = req.child !== undefined ? stack.rekeyChild(req.conn, req.child) : stack.rekeyIke(req.conn);
        why = `"${req.conn}" has no established ${req.child !== undefined ? `child "${req.child}"` : 'IKE SA'} to rekey`;
        break;
      case 'terminate':
        ok = stack.terminate(req.conn, req.child);
        why = `"${req.conn}" has no SA to terminate`;
        break;
    }
    return ok ? { ok: true } : { ok: false, error: why || `${req.cmd} failed` };
  }
}
