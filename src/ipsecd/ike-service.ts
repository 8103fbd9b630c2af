import { randomBytes } from 'node:crypto';
import { IkeEngine } from '../ike/engine.js';
import { IkeDriver } from '../ike/host-driver.js';
import { createAuthProvider } from '../ike/auth/index.js';
import type { EspEvent } from '../esp/types.js';
import { newDropCounts } from '../esp/counters.js';
import type { DataPathStatus } from '../esp/status.js';
import type { IkeConnection } from './ike-config.js';
import type { IkeHost, IkeSink } from './daemon.js';
import type { ControlRequest, ControlResponse } from './control-protocol.js';
import type { ChildSaJson, IkeSaJson } from './status.js';
import type { Peer } from './udp.js';

const STATE: Record<string, string> = {
  'init-sent': 'CONNECTING', 'half-open': 'CONNECTING', 'auth-sent': 'CONNECTING',
  established: 'ESTABLISHED', rekeyed: 'REKEYED', deleting: 'DELETING', dead: 'DESTROYING',
};

/**
 * The IKE side of ipsecd: the engine built from the config's IKE connections, driven through
 * IkeDriver on the daemon's sockets and data path. Starts connections per start_action, answers
 * initiate/rekey/terminate, and merges the engine's SAs with the data path's counters for status.
 */
export class IkeService implements IkeSink {
  readonly engine: IkeEngine;
  readonly driver: IkeDriver;
  private readonly lastPacketsIn = new Map<number, number>();
  private lastOutboundDrops = 0;

  constructor(private readonly conns: readonly IkeConnection[], private readonly host: IkeHost, localAddr: string, retransmit?: { timeoutMs: number; tries: number; base: number }) {
    const auth = createAuthProvider(Object.fromEntries(conns.map((c) => [c.name, c.auth])), () => new Date(host.now()));
    this.engine = new IkeEngine({ now: host.now, random: (n) => randomBytes(n), connections: conns.map((c) => c.engine), auth, ...(retransmit ? { timers: { retransmit } } : {}) });
    this.driver = new IkeDriver(this.engine, {
      sendIke: (m, port, to) => host.sendIke(m, port, to),
      installChild: (spec) => {
        try {
          host.installChild(spec);
        } catch (err) {
          // E.g. an SPI clash in the data path: the child cannot carry traffic, so IKE deletes it.
          host.logger.error({ child: spec.name, err: (err as Error).message }, 'cannot install child SA; deleting it');
          queueMicrotask(() => {
            this.engine.deleteChildSa(spec.spiIn);
            this.driver.pump();
          });
        }
      },
      removeSa: (spiIn) => host.removeSa(spiIn),
      retireSa: (spiIn) => host.retireSa(spiIn),
      logEspKeys: (row) => host.logEspKeys(row),
      logIkeKeys: (row) => host.logIkeKeys(row),
      logger: { info: (_o, line) => host.logger.info(line) },
      now: host.now,
    }, localAddr);
  }

  /** start_action start: initiate now; trap waits for a packet; none waits for `ipsec initiate`. */
  start(): void {
    for (const c of this.conns) if (c.startAtBoot) this.engine.initiate(c.name);
    this.driver.pump();
  }

  has(conn: string): boolean {
    return this.conns.some((c) => c.name === conn);
  }

  onIkeMessage(message: Buffer, from: Peer, localPort: number): void {
    this.driver.onIkeMessage(message, from, localPort);
  }

  onEspEvent(e: EspEvent): void {
    this.driver.onEspEvent(e);
  }

  /**
   * Once a second: inbound ESP counts as liveness (DPD only probes silent peers), and packets
   * the data path refused for want of an SA start the trap connections that have none. Those
   * packets are dropped (never sent in clear); the sender's retransmission rides the new SA.
   */
  tick(dp: DataPathStatus): void {
    for (const c of dp.children) {
      for (const sa of c.sas) {
        const spi = Number.parseInt(sa.spi_in, 16);
        if ((this.lastPacketsIn.get(spi) ?? 0) !== sa.packets_in) {
          this.lastPacketsIn.set(spi, sa.packets_in);
          this.engine.noteInboundTraffic(spi);
        }
      }
    }
    const drops = dp.outbound_drops.no_policy + dp.outbound_drops.no_sa;
    if (drops > this.lastOutboundDrops) {
      const up = new Set(this.engine.status().ike_sas.filter((s) => s.state !== 'dead').map((s) => s.name));
      for (const c of this.conns) {
        if (c.trap && !up.has(c.name)) {
          this.host.logger.info({ conn: c.name }, `"${c.name}": initiating on a packet matching a trap policy`);
          this.engine.initiate(c.name);
        }
      }
    }
    this.lastOutboundDrops = drops;
    this.driver.pump();
  }

  control(req: Exclude<ControlRequest, { cmd: 'status' }>): ControlResponse {
    const conn = this.conns.find((c) => c.name === req.conn)!;
    if (req.child !== undefined && !conn.children.some((c) => c.child === req.child)) {
      return { ok: false, error: `connection "${req.conn}" has no child named "${req.child}"` };
    }
    const established = this.engine.status().ike_sas.some((s) => s.name === req.conn && s.state === 'established');
    let ok = true;
    let why = '';
    switch (req.cmd) {
      case 'initiate':
        if (req.child !== undefined && established) ok = this.engine.createChild(req.conn, req.child);
        else this.engine.initiate(req.conn);
        break;
      case 'rekey':
        ok = req.child !== undefined ? this.engine.rekeyChild(req.conn, req.child) : this.engine.rekeyIke(req.conn);
        why = `"${req.conn}" has no established ${req.child !== undefined ? `child "${req.child}"` : 'IKE SA'} to rekey`;
        break;
      case 'terminate':
        ok = this.engine.terminate(req.conn, req.child);
        why = `"${req.conn}" has no SA to terminate`;
        break;
    }
    this.driver.pump();
    return ok ? { ok: true } : { ok: false, error: why || `${req.cmd} failed` };
  }

  /** The engine's SAs with the data path's traffic counters, in the CONTRACTS.md shape. */
  status(dp: DataPathStatus): IkeSaJson[] {
    return this.engine.status().ike_sas.filter((s) => s.state !== 'dead').map((s): IkeSaJson => {
      const route = this.conns.find((c) => c.name === s.name);
      const children = s.children.map((ch): ChildSaJson => {
        const spiIn = Number.parseInt(ch.spi_in, 16);
        const dpSa = dp.children.find((c) => c.name === `${s.name}/${ch.name}`)?.sas.find((x) => Number.parseInt(x.spi_in, 16) === spiIn);
        const r = route?.children.find((c) => c.child === ch.name);
        return {
          name: ch.name, state: ch.state.toUpperCase().replace(/-/g, '_'), mode: ch.mode,
          spi_in: `0x${ch.spi_in}`, spi_out: `0x${ch.spi_out}`, proposal: ch.proposal,
          local_ts: ch.local_ts.length ? ch.local_ts : r?.localTsText ?? [], remote_ts: ch.remote_ts.length ? ch.remote_ts : r?.remoteTsText ?? [],
          bytes_in: dpSa?.bytes_in ?? 0, bytes_out: dpSa?.bytes_out ?? 0, packets_in: dpSa?.packets_in ?? 0, packets_out: dpSa?.packets_out ?? 0,
          rekey_in_s: ch.rekey_in_s, serial: ch.serial,
          drops: dpSa?.drops ?? newDropCounts(),
        };
      });
      const [local, localPort] = splitEndpoint(s.local);
      const [remote, remotePort] = splitEndpoint(s.remote);
      return {
        name: s.name, state: STATE[s.state] ?? s.state.toUpperCase(), local, remote,
        local_id: s.local_id, remote_id: s.remote_id, spi_i: s.spi_i, spi_r: s.spi_r, proposal: s.proposal,
        established_s: s.established_s, rekey_in_s: s.rekey_in_s, children,
        serial: s.serial, libreswan_state: s.libreswan_state, local_port: localPort, remote_port: remotePort,
      };
    });
  }

  counters(): Record<string, number> {
    return { ...this.engine.counters };
  }

  /** Sends DELETE for every IKE SA and waits up to graceMs for the answers. */
  async stop(graceMs = 1000): Promise<void> {
    for (const c of this.conns) this.engine.terminate(c.name);
    this.driver.pump();
    const end = Date.now() + graceMs;
    while (Date.now() < end && this.engine.status().ike_sas.some((s) => s.state === 'deleting')) {
      await new Promise((r) => setTimeout(r, 20));
    }
    this.driver.stop();
  }
}

function splitEndpoint(s: string): [string, number] {
  const i = s.lastIndexOf(':');
  return [s.slice(0, i), Number(s.slice(i + 1))];
}
