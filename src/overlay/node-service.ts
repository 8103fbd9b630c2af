import { openTun } from '../native/tun.js';
import { OverlayEngine } from './engine.js';
import { NodeOverlay, type TunPort } from './node-overlay.js';
import type { NodeOverlayConfig } from './node-config.js';
import { configureTun } from './tun-setup.js';
import type { Underlay } from './underlay.js';
import { UdpUnderlay } from './udp-underlay.js';

/**
 * One node's running overlay: TUN opened and routed, engine, underlay, driver. The agent calls
 * startNodeOverlay() with IPsec off (plain UDP underlay) or passes its own underlay (the ESP seam,
 * PacketUnderlay) with IPsec on. Must run inside the node's network namespace, with CAP_NET_ADMIN.
 */
export interface RunningOverlay {
  readonly overlay: NodeOverlay;
  readonly engine: OverlayEngine;
  readonly tun: TunPort;
  readonly underlay: Underlay;
  stop(): Promise<void>;
}

export async function startNodeOverlay(
  config: NodeOverlayConfig,
  opts: { underlay?: Underlay; openTun?: (name: string) => TunPort } = {},
): Promise<RunningOverlay> {
  const engine = new OverlayEngine({ local: config.local, peers: config.peers, underlayMtu: config.underlayMtu });
  const underlay = opts.underlay ?? new UdpUnderlay({ address: config.local.underlay, port: config.port, senders: config.senders });
  const tun = (opts.openTun ?? openTun)(config.tunName);
  let stopped = false;
  const overlay = new NodeOverlay(engine, tun, underlay);
  try {
    await configureTun(tun.name, config.mtu, config.routes);
    await overlay.start();
  } catch (err) {
    await overlay.stop().catch(() => {});
    throw err;
  }
  return {
    overlay,
    engine,
    tun,
    underlay,
    async stop() {
      if (stopped) return;
      stopped = true;
      await overlay.stop();
    },
  };
}
