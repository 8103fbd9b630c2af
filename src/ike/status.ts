import type { IkeId } from './auth-provider.js';
import { proposalName } from './proposals.js';
import { formatTs } from '../wire/traffic-selector.js';
import type { IkeSaState, IkeSaView } from './view.js';

/**
 * Status in the shape of CONTRACTS.md's `ipsec status --json` (traffic counters come from the ESP
 * engine): text for people and for that contract, formatted from the typed views (view.ts). Code
 * that needs to know something about an SA asks `IkeEngine.sas()` instead of parsing this.
 */
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

/** The status text of a state; it keeps the names the status contract has always used. */
function stateText(sa: IkeSaView): string {
  switch (sa.state) {
    case 'authenticating':
      return sa.initiator ? 'auth-sent' : 'half-open';
    case 'rekeying':
      return 'rekeyed';
    default:
      return sa.state;
  }
}

const LIBRESWAN_STATE: Record<IkeSaState, string> = {
  'init-sent': 'STATE_V2_PARENT_I1',
  authenticating: 'STATE_V2_PARENT_I2',
  established: 'STATE_V2_ESTABLISHED_IKE_SA',
  rekeying: 'STATE_V2_ESTABLISHED_IKE_SA',
  rekeyed: 'STATE_V2_ESTABLISHED_IKE_SA',
  deleting: 'STATE_V2_IKE_SA_DELETE',
};

/** Whether `ipsec status` shows an IKE SA in this state as STATE_V2_ESTABLISHED_IKE_SA. */
export function shownEstablished(state: IkeSaState): boolean {
  return LIBRESWAN_STATE[state] === 'STATE_V2_ESTABLISHED_IKE_SA';
}

function libreswanState(sa: IkeSaView): string {
  return sa.state === 'authenticating' && !sa.initiator ? 'STATE_V2_PARENT_R1' : LIBRESWAN_STATE[sa.state];
}

const hex8 = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');
const hex16 = (n: bigint): string => n.toString(16).padStart(16, '0');
const secs = (ms: number | undefined, now: number): number | null => (ms === undefined ? null : Math.max(0, Math.round((ms - now) / 1000)));

export function buildStatus(sas: IkeSaView[], now: number, describeId: (id: IkeId) => string, counters: object): IkeStatus {
  return {
    ike_sas: sas.map((sa) => ({
      name: sa.connection,
      serial: sa.serial,
      state: stateText(sa),
      libreswan_state: libreswanState(sa),
      local: `${sa.local.address}:${sa.local.port}`,
      remote: `${sa.remote.address}:${sa.remote.port}`,
      local_id: sa.localId ? describeId(sa.localId) : '',
      remote_id: sa.remoteId ? describeId(sa.remoteId) : '',
      spi_i: hex16(sa.spiI),
      spi_r: hex16(sa.spiR),
      proposal: sa.proposal ? proposalName(sa.proposal) : '',
      established_s: sa.establishedAt === undefined ? null : Math.round((now - sa.establishedAt) / 1000),
      rekey_in_s: secs(sa.rekeyAt, now),
      children: sa.children.map((c) => ({
        name: c.name,
        serial: c.serial,
        state: c.state,
        mode: c.mode,
        spi_in: hex8(c.spiIn),
        spi_out: hex8(c.spiOut),
        proposal: proposalName(c.proposal),
        local_ts: c.localTs.map(formatTs),
        remote_ts: c.remoteTs.map(formatTs),
        rekey_in_s: secs(c.rekeyAt, now),
        answered: c.answered,
      })),
    })),
    counters: { ...(counters as Record<string, number>) },
  };
}
