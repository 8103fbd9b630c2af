import type { Logger } from '../util/log.js';
import type { IkeAuthProvider } from '../ike/auth-provider.js';
import { IpsecStack, type IpsecStackEvent } from '../host/ipsec-stack.js';
import { PacketUnderlay } from '../overlay/packet-underlay.js';
import { startNodeOverlay, type RunningOverlay } from '../overlay/node-service.js';
import type { NodeOverlayConfig } from '../overlay/node-config.js';
import type { TunPort } from '../overlay/node-overlay.js';
import { BufferArena } from '../util/arena.js';

/**
 * One node's data plane: the pod TUN and the Geneve overlay, and — with IPsec on — the IPsec
 * stack (ESP data path, UDP 500/4500, IKE). With IPsec on the overlay hands every Geneve packet
 * to the stack (PacketUnderlay) and nothing else: a packet no installed child covers is dropped
 * and counted (`no_policy` / `no_sa`), never sent in clear. With IPsec off the overlay sends
 * plain Geneve over UDP (the seed's §5.2).
 */
export interface DataPlaneOptions {
  overlay: NodeOverlayConfig;
  ipsec: boolean;
  auth?: IkeAuthProvider;
  now: () => number;
  log: Logger;
  /** What the IPsec stack reports (child installs, IKE SAs up and down, IKE log lines). */
  onStackEvent?: (e: IpsecStackEvent) => void;
  openTun?: (name: string) => TunPort;
  /** Keep Wireshark key logs (esp_sa, ikev2_decryption_table) in this directory. */
  keylogDir?: string;
  /** Inbound ESP refused as unknown_spi (already counted), with its sender. */
  onUnknownSpi?: (spi: number, from: { address: string; port: number }) => void;
}

export class DataPlane {
  private stopped = false;

  private constructor(readonly overlay: RunningOverlay, readonly stack: IpsecStack | undefined) {}

  static async start(o: DataPlaneOptions): Promise<DataPlane> {
    if (!o.ipsec) {
      const overlay = await startNodeOverlay(o.overlay, o.openTun ? { openTun: o.openTun } : {});
      return new DataPlane(overlay, undefined);
    }
    if (!o.auth) throw new Error('IPsec data plane needs an auth provider');
    let underlay!: PacketUnderlay;
    // Decrypted packets of one batch of datagrams reach the overlay as the data path finishes
    // them (transport mode: the UDP payload, decrypted in place in the receive buffer, with the
    // addresses — no IPv4 header rebuilt and parsed again) and the TUN in one coalescing write
    // at the batch's end, before the receive buffer is reused. Rebuilt whole packets (when the
    // overlay is not the consumer) come from an arena reused once the batch is written.
    const inboundArena = new BufferArena(2 << 20);
    // Nodes of one cluster sit on one underlay: a first retransmit after 1 s (not 4 s) brings a
    // pair up quickly when the peer's sockets opened just after our first IKE_SA_INIT; give up after ~63 s.
    const stack = new IpsecStack({
      local: o.overlay.local.underlay,
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
      now: o.now,
      auth: o.auth,
      log: o.log,
      timers: { retransmit: { timeoutMs: 1000, base: 2, tries: 6 } },
      ...(o.keylogDir ? { keylogDir: o.keylogDir } : {}),
      ...(o.onStackEvent ? { onEvent: o.onStackEvent } : {}),
      ...(o.onUnknownSpi ? { onUnknownSpi: o.onUnknownSpi } : {}),
    });
    underlay = new PacketUnderlay((packets) => stack.onTunPackets(packets));
    try {
      const overlay = await startNodeOverlay(o.overlay, { underlay, ...(o.openTun ? { openTun: o.openTun } : {}) });
      return new DataPlane(overlay, stack);
    } catch (err) {
      await stack.stop(0);
      throw err;
    }
  }

  /**
   * Stops: IKE DELETEs for every connection first (waiting up to `graceMs` for the answers), then
   * sockets, the TUN and timers.
   */
  async stop(graceMs = 1000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.stack?.stop(graceMs);
    await this.overlay.stop();
  }
}
