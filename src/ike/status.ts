import type { EngineContext } from './context.js';
import { proposalName } from './proposals.js';
import type { IkeSa, IkeState } from './sa/ike-sa.js';
import { tsToString } from './traffic-selectors.js';

/** Status in the shape of CONTRACTS.md's `ipsec status --json` (traffic counters come from the ESP engine). */
export interface ChildStatus {
  name: string;
  serial: number;
  state: string;
  mode: 'tunnel' | 'transport';
  spi_in: string;
  spi_out: string;
  proposal: string;
  local_ts: string[];
  remote_ts: string[];
  rekey_in_s: number | null;
  /** We answered the exchange that made it: the peer may not have installed it yet. */
  answered?: boolean;
}

export interface IkeSaStatus {
  name: string;
  serial: number;
  state: string;
  /** libreswan's state name, for the text form. */
  libreswan_state: string;
  local: string;
  remote: string;
  local_id: string;
  remote_id: string;
  spi_i: string;
  spi_r: string;
  proposal: string;
  established_s: number | null;
  rekey_in_s: number | null;
  children: ChildStatus[];
}

export interface IkeStatus {
  ike_sas: IkeSaStatus[];
  counters: Record<string, number>;
}

const LIBRESWAN_STATE: Record<IkeState, string> = {
  'init-sent': 'STATE_V2_PARENT_I1',
  'half-open': 'STATE_V2_PARENT_R1',
  'auth-sent': 'STATE_V2_PARENT_I2',
  established: 'STATE_V2_ESTABLISHED_IKE_SA',
  rekeyed: 'STATE_V2_ESTABLISHED_IKE_SA',
  deleting: 'STATE_V2_IKE_SA_DELETE',
  dead: 'STATE_V2_IKE_SA_DELETE',
};

const hex8 = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');
const secs = (ms: number | undefined, now: number): number | null => (ms === undefined ? null : Math.max(0, Math.round((ms - now) / 1000)));

export function buildStatus(sas: IkeSa[], now: number, ctx: EngineContext, counters: object): IkeStatus {
  return {
    ike_sas: sas.map((sa) => ({
      name: sa.name,
      serial: sa.serial,
      state: sa.state,
      libreswan_state: LIBRESWAN_STATE[sa.state],
      local: `${sa.local.address}:${sa.local.port}`,
      remote: `${sa.remote.address}:${sa.remote.port}`,
      local_id: sa.localId ? ctx.describeId(sa.localId) : '',
      remote_id: sa.remoteId ? ctx.describeId(sa.remoteId) : '',
      spi_i: sa.spiI.toString('hex'),
      spi_r: sa.spiR.toString('hex'),
      proposal: sa.chosen ? proposalName(sa.chosen) : '',
      established_s: sa.establishedAt === undefined ? null : Math.round((now - sa.establishedAt) / 1000),
      rekey_in_s: secs(sa.rekeyAt, now),
      children: sa.children.map((c) => ({
        name: c.cfg.name,
        serial: c.serial,
        state: c.state,
        mode: c.mode,
        spi_in: hex8(c.spiIn),
        spi_out: hex8(c.spiOut),
        proposal: proposalName(c.chosen),
        local_ts: c.localTs.map(tsToString),
        remote_ts: c.remoteTs.map(tsToString),
        rekey_in_s: secs(c.rekeyAt, now),
        answered: c.answered,
      })),
    })),
    counters: { ...(counters as Record<string, number>) },
  };
}
