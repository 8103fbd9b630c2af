import { randomBytes } from 'node:crypto';
import type { Logger } from '../util/log.js';
import { EspDataPath } from '../esp/datapath.js';
import type { EspEvent } from '../esp/types.js';
import { IkeEngine } from '../ike/engine.js';
import { IkeDriver, type EspInstallSpec } from '../ike/host-driver.js';
import { KeylogWriter } from '../ipsecd/keylog.js';
import type { IkeAuthProvider } from '../ike/auth-provider.js';
import { PacketUnderlay } from '../overlay/packet-underlay.js';
import { startNodeOverlay, type RunningOverlay } from '../overlay/node-service.js';
import type { NodeOverlayConfig } from '../overlay/node-config.js';
import type { TunPort } from '../overlay/node-overlay.js';
import { UdpEndpoint } from '../ipsecd/udp.js';
import { BufferArena } from '../util/arena.js';

/**
 * One node's data plane: the pod TUN and the Geneve overlay, and — with IPsec on — the ESP data
 * path, the UDP 500/4500 sockets and the IKE engine with its driver. With IPsec on the overlay
 * hands every Geneve packet to the ESP data path (PacketUnderlay) and nothing else: a packet no
 * installed child covers is dropped and counted (`no_policy` / `no_sa`), never sent in clear.
 * With IPsec off the overlay sends plain Geneve over UDP (the seed's §5.2).
 */
export interface DataPlaneOptions {
  overlay: NodeOverlayConfig;
  ipsec: boolean;
  auth?: IkeAuthProvider;
  now: () => number;
  log: Logger;
  /** An IKE log line (libreswan style, `"conn" #N: text`). */
  onIkeLog?: (line: string) => void;
  /** A child SA pair went into the data path; `rekey` when it replaced one of the same name. */
  onChildInstalled?: (spec: EspInstallSpec, rekey: boolean) => void;
  openTun?: (name: string) => TunPort;
  /** Keep Wireshark key logs (esp_sa, ikev2_decryption_table) in this directory. */
  keylogDir?: string;
  /** Inbound ESP refused as unknown_spi (already counted), with its sender. */
  onUnknownSpi?: (spi: number, from: { address: string; port: number }) => void;
}

export class DataPlane {
  readonly esp: EspDataPath | undefined;
  readonly engine: IkeEngine | undefined;
  readonly driver: IkeDriver | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private readonly lastPacketsIn = new Map<number, number>();
  childInstallFailures = 0;
  ikeDatagrams = 0;
  private stopped = false;

  private constructor(
    readonly overlay: RunningOverlay,
    readonly udp: UdpEndpoint | undefined,
    parts: { esp?: EspDataPath; engine?: IkeEngine; driver?: IkeDriver },
  ) {
    this.esp = parts.esp;
    this.engine = parts.engine;
    this.driver = parts.driver;
  }

  static async start(o: DataPlaneOptions): Promise<DataPlane> {
    if (!o.ipsec) {
      const overlay = await startNodeOverlay(o.overlay, o.openTun ? { openTun: o.openTun } : {});
      return new DataPlane(overlay, undefined, {});
    }
    if (!o.auth) throw new Error('IPsec data plane needs an auth provider');
    const local = o.overlay.local.underlay;
    const keylog = o.keylogDir ? new KeylogWriter(o.keylogDir) : undefined;
    let underlay!: PacketUnderlay;
    let udp: UdpEndpoint | undefined;
    let driver: IkeDriver | undefined;
    let dp!: DataPlane;
    // Decrypted packets of one batch of datagrams reach the overlay as the data path finishes
    // them (transport mode: the UDP payload, decrypted in place in the receive buffer, with the
    // addresses — no IPv4 header rebuilt and parsed again) and the TUN in one coalescing write
    // at the batch's end, before the receive buffer is reused. Rebuilt whole packets (when the
    // overlay is not the consumer) come from an arena reused once the batch is written.
    const inboundArena = new BufferArena(2 << 20);
    const esp = new EspDataPath({
      tun: {
        write: (packets) => underlay.deliver(packets),
        writeTransport: (payload, offset, length, src, dst, protocol) => underlay.deliverTransport(payload, offset, length, src, dst, protocol),
        endBatch: () => {
          try {
            underlay.endBatch();
          } finally {
            inboundArena.reset();
          }
        },
        allocate: (length) => inboundArena.take(length),
      },
      udp: {
        send: (d, len, port, addr) => udp?.send(d, len, port, addr),
        sendAt: (region, off, len, port, addr) => udp?.sendAt(region, off, len, port, addr),
        flush: () => udp?.flush(),
        allocate: (length) => (udp ? udp.allocate(length) : Buffer.allocUnsafe(length)),
      },
      now: o.now,
      onEvent: (e: EspEvent) => driver?.onEspEvent(e),
      ...(o.onUnknownSpi ? { onUnknownSpi: o.onUnknownSpi } : {}),
    });
    underlay = new PacketUnderlay((packets) => esp.onTunPackets(packets));
    // Nodes of one cluster sit on one underlay: a first retransmit after 1 s (not 4 s) brings a
    // pair up quickly when the peer's sockets opened just after our first IKE_SA_INIT; give up after ~63 s.
    const engine = new IkeEngine({
      now: o.now, random: (n) => randomBytes(n), connections: [], auth: o.auth,
      timers: { retransmit: { timeoutMs: 1000, base: 2, tries: 6 } },
    });
    driver = new IkeDriver(engine, {
      sendIke: (message, localPort, to) => udp?.sendIke(message, localPort, to),
      installChild: (spec) => {
        const rekey = esp.status().children.some((c) => c.name === spec.name && c.sas.length > 0);
        try {
          esp.installChild(spec);
        } catch (err) {
          // E.g. an inbound SPI already in use: the child cannot carry traffic; delete it so IKE makes another.
          dp.childInstallFailures++;
          o.log.error({ child: spec.name, err: (err as Error).message }, 'cannot install child SA; deleting it');
          queueMicrotask(() => {
            engine.deleteChildSa(spec.spiIn);
            driver?.pump();
          });
          return;
        }
        o.onChildInstalled?.(spec, rekey);
      },
      removeSa: (spiIn) => esp.removeSa(spiIn),
      retireSa: (spiIn) => esp.retireOutbound(spiIn),
      ...(keylog ? { logEspKeys: (row) => keylog.addEsp(row), logIkeKeys: (row) => keylog.addIke(row) } : {}),
      logger: { info: (_obj, line) => o.onIkeLog?.(line) },
      now: o.now,
    }, local);
    const overlay = await startNodeOverlay(o.overlay, { underlay, ...(o.openTun ? { openTun: o.openTun } : {}) });
    try {
      udp = await UdpEndpoint.open(local, {
        esp: (d, off, len, from) => esp.queueUdpEsp(d, off, len, from),
        espEnd: () => esp.flushUdpEsp(),
        ike: (msg, from, port) => {
          dp.ikeDatagrams++;
          driver!.onIkeMessage(msg, from, port);
        },
      });
    } catch (err) {
      await overlay.stop();
      throw err;
    }
    dp = new DataPlane(overlay, udp, { esp, engine, driver });
    dp.ticker = setInterval(() => dp.tick(), 1000);
    dp.ticker.unref();
    return dp;
  }

  /** Lifetimes, and inbound ESP counted as liveness so DPD only probes silent peers. */
  private tick(): void {
    if (!this.esp || !this.engine) return;
    this.esp.tick();
    for (const c of this.esp.status().children) {
      for (const sa of c.sas) {
        const spi = Number.parseInt(sa.spi_in, 16);
        if ((this.lastPacketsIn.get(spi) ?? 0) !== sa.packets_in) {
          this.lastPacketsIn.set(spi, sa.packets_in);
          this.engine.noteInboundTraffic(spi);
        }
      }
    }
    this.driver?.pump();
  }

  /**
   * Stops: IKE DELETEs for every connection first (waiting up to `graceMs` for the answers), then
   * sockets, the TUN and timers.
   */
  async stop(graceMs = 1000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    if (this.engine && this.driver) {
      for (const name of this.engine.connectionNames()) this.engine.terminate(name);
      this.driver.pump();
      const end = Date.now() + graceMs;
      while (Date.now() < end && this.engine.status().ike_sas.some((s) => s.state === 'deleting')) {
        await new Promise((r) => setTimeout(r, 20));
      }
      this.driver.stop();
    }
    this.udp?.close();
    await this.overlay.stop();
  }
}
