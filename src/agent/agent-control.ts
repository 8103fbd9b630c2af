import type { ControlResponse } from '../host/control-protocol.js';
import type { AgentRequest } from './control.js';
import type { IkeCommands } from './node-sync.js';
import type { AgentPhase, AgentState } from './agent-state.js';
import { formatIpsecStatusDict, formatIpsecStatusText, formatTunnelsShow, ipsecStatusDict, ipsecStatusJson, tunnelsShow, type AgentSnapshot } from './status.js';

/** What the agent's control socket answers from. */
export interface AgentControlContext {
  node: string;
  phase(): AgentPhase;
  state(): AgentState;
  snapshot(): AgentSnapshot | undefined;
  underlayIface(): string | undefined;
  ike(): IkeCommands | undefined;
  /** The connections configured (a request naming another is refused). */
  connections(): string[];
  setClockOffset(text: string): ControlResponse;
  /** "control plane unreachable since T", while it is. */
  controlPlaneLine(): string | undefined;
}

/** Answers one request on `agent.sock`: the state, the seed's status views, and IKE commands by connection. */
export function handleAgentRequest(ctx: AgentControlContext, req: AgentRequest): ControlResponse {
  if (req.cmd === 'agent/state') return { ok: true, state: ctx.state() };
  if (req.cmd === 'clock/offset') return ctx.setClockOffset(req.offset);
  const snap = ctx.snapshot();
  if (!snap) return { ok: false, error: `agent of node ${ctx.node} is ${ctx.phase()}: no data plane yet` };
  switch (req.cmd) {
    case 'status': {
      // The node's tunnels run on what it last read; the status says so first when the store is away.
      const line = ctx.controlPlaneLine();
      const text = formatIpsecStatusText(snap, ctx.underlayIface());
      return { ok: true, status: { ...ipsecStatusJson(snap), control_plane: ctx.state().control_plane }, text: line ? `000 ${line}\n${text}` : text };
    }
    case 'tunnels/show': {
      const t = tunnelsShow(snap);
      return { ok: true, tunnels: t, text: formatTunnelsShow(t) };
    }
    case 'ipsec/status': {
      const dict = ipsecStatusDict(tunnelsShow(snap));
      return { ok: true, status: dict, text: formatIpsecStatusDict(dict) };
    }
    default: {
      if (!('conn' in req)) return { ok: false, error: `unknown command ${req.cmd}` };
      const ike = ctx.ike();
      if (!ike) return { ok: false, error: 'IPsec is disabled in the cluster network config: no IKE connections' };
      const names = ctx.connections();
      if (!names.includes(req.conn)) return { ok: false, error: `no connection named "${req.conn}" (tunnels: ${names.join(', ') || 'none'})` };
      const engine = ike.engine;
      let done: boolean;
      if (req.cmd === 'initiate') {
        if (req.child) done = engine.createChild(req.conn, req.child);
        else {
          engine.initiate(req.conn);
          done = true;
        }
      } else if (req.cmd === 'rekey') done = req.child ? engine.rekeyChild(req.conn, req.child) : engine.rekeyIke(req.conn);
      else done = engine.terminate(req.conn, req.child);
      ike.pump();
      return done ? { ok: true } : { ok: false, error: `${req.cmd} ${req.conn}${req.child ? `/${req.child}` : ''}: nothing to do (no established SA)` };
    }
  }
}
