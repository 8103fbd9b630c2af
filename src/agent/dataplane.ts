import type { Logger } from '../util/log.js';
import type { IkeAuthProvider } from '../ike/auth-provider.js';
import { IpsecStack, type IpsecStackEvent } from '../host/ipsec-stack.js';
import { PacketUnderlay } from '../overlay/packet-underlay.js';
import { startNodeOverlay, type RunningOverlay } from '../overlay/node-service.js';
import { SwitchingUnderlay } from '../overlay/switching-underlay.js';
import { UdpUnderlay } from '../overlay/udp-underlay.js';
import type { NodeOverlayConfig } from '../overlay/node-config.js';
import type { TunPort } from '../overlay/node-overlay.js';
import { BufferArena } from '../util/arena.js';

/**
 * One node's data plane: the pod TUN, the Geneve overlay and its switching underlay (plain UDP
 * on 6081, always open) and — while IPsec is on or being turned on or off — the IPsec stack (ESP
 * data path, UDP 500/4500, IKE) behind the underlay's ESP seam. Per peer, the node's pair states
 * (pair-mode.ts) decide whether Geneve goes in ESP or plain and whether cleartext is accepted
 * (applyPairs); a packet for an ESP peer that no installed child covers is dropped and counted
 * (`no_policy` / `no_sa`), never sent in clear.
 */
export interface DataPlaneOptions {
  overlay: NodeOverlayConfig;
  /** Needed to start the IPsec stack (startIpsec). */
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

/** Per peer underlay address (IPv4 as a number): whether it is sent ESP, and whether its cleartext is accepted. */
export interface PeerPaths {
  esp: ReadonlySet<number>;
  cleartext: ReadonlySet<number> | 'all';
  /** Every peer is sent ESP. */
  allEsp: boolean;
}

export class DataPlane {
  private stopped = false;
  private ipsec: IpsecStack | undefined;

  private constructor(readonly overlay: RunningOverlay, private readonly underlay: SwitchingUnderlay, private readonly o: DataPlaneOptions) {}

  /** Starts the overlay with no IPsec stack; the node's pair states decide the paths (applyPairs) and when a stack runs. */
  static async start(o: DataPlaneOptions): Promise<DataPlane> {
    const underlay = new SwitchingUnderlay(new UdpUnderlay({ address: o.overlay.local.underlay, port: o.overlay.port, senders: o.overlay.senders }));
    const overlay = await startNodeOverlay(o.overlay, { underlay, ...(o.openTun ? { openTun: o.openTun } : {}) });
    return new DataPlane(overlay, underlay, o);
  }

  /** The IPsec stack, while one runs. */
  get stack(): IpsecStack | undefined {
    return this.ipsec;
  }

  /** Sets which peers are sent ESP and whose cleartext is accepted (from the pair states). */
  applyPairs(p: PeerPaths): void {
    this.underlay.setEspPeers(p.esp, p.allEsp);
    this.overlay.engine.setCleartextPeers(p.cleartext);
  }

  /** Starts the IPsec stack behind the underlay's ESP seam (UDP 500/4500 bound); no-op when it runs. */
  async startIpsec(): Promise<IpsecStack> {
    if (this.ipsec) return this.ipsec;
    const o = this.o;
    if (!o.auth) throw new Error('IPsec data plane needs an auth provider');
    let seam!: PacketUnderlay;
    // Decrypted packets of one batch of datagrams reach the overlay as the data path finishes
    // them (transport mode: the UDP payload, decrypted in place in the receive buffer, with the
    // addresses — no IPv4 header rebuilt and parsed again) and the TUN in one coalescing write
    // at the batch's end, before the receive buffer is reused. Rebuilt whole packets (when the
    // overlay is not the consumer) come from an arena reused once the batch is written.
    const inboundArena = new BufferArena(2 << 20);
    // Nodes of one cluster sit on one underlay: a first retransmit after 1 s (not 4 s) brings a
    // pair up quickly when the peer's sockets opened just after our first IKE_SA_INIT; give up after
    // ~63 s. Busy hosts answer later: the first timeout then follows the measured round trips, up
    // to 4 s (ike/rtt.ts). A node that learns of many peers at once starts its initiations ~20 ms
    // apart (jittered), so the cluster's IKE_SA_INITs do not arrive in one burst (ike/pacer.ts).
    const stack = new IpsecStack({
      local: o.overlay.local.underlay,
      tun: {
        write: (packets) => seam.deliver(packets),
        writeTransport: (payload, offset, length, src, dst, protocol) => seam.deliverTransport(payload, offset, length, src, dst, protocol),
        endBatch: () => {
          try {
            seam.endBatch();
          } finally {
            inboundArena.reset();
          }
        },
        allocate: (length) => inboundArena.take(length),
      },
      now: o.now,
      auth: o.auth,
      log: o.log,
      timers: { retransmit: { timeoutMs: 1000, ceilingMs: 4000, base: 2, tries: 6 }, initiationSpacingMs: 20 },
      ...(o.keylogDir ? { keylogDir: o.keylogDir } : {}),
      ...(o.onStackEvent ? { onEvent: o.onStackEvent } : {}),
      ...(o.onUnknownSpi ? { onUnknownSpi: o.onUnknownSpi } : {}),
    });
    // Outbound, the overlay writes each packet's UDP ‖ Geneve ‖ frame straight into the region
    // the data path seals (no outer IPv4 packet built, copied and parsed again); whole packets
    // (none with the overlay's engine) would go through onTunPackets.
    seam = new PacketUnderlay((packets) => stack.onTunPackets(packets), stack.esp);
    await this.underlay.attachEsp(seam);
    this.ipsec = stack;
    return stack;
  }

  /** Stops the IPsec stack (DELETEs for what is left, sockets closed); no peer may be sent ESP by then. */
  async stopIpsec(graceMs = 1000): Promise<void> {
    const stack = this.ipsec;
    if (!stack) return;
    this.ipsec = undefined;
    await this.underlay.detachEsp();
    await stack.stop(graceMs);
  }

  /**
   * Stops: IKE DELETEs for every connection first (waiting up to `graceMs` for the answers), then
   * sockets, the TUN and timers.
   */
  async stop(graceMs = 1000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.stopIpsec(graceMs);
    await this.overlay.stop();
  }
}
