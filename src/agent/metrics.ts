import http from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import type { AgentSnapshot } from './status.js';
import { activeChildren } from './status.js';
import type { ControlPlaneHealth } from './control-plane.js';

/**
 * Prometheus metrics of one agent, computed from a status snapshot at scrape time: SAs by state
 * per tunnel, ESP and overlay bytes/packets, drops by cause, rekeys, certificate expiry. Nothing
 * secret (no keys, no SPIs) is exported.
 */
export interface MetricsSource {
  snapshot(): AgentSnapshot | undefined;
  rekeys(): Map<string, number>;
  certNotAfterMs(): number | undefined;
  now(): number;
  ready(): boolean;
  controlPlane: Pick<ControlPlaneHealth, 'reachable' | 'unreachableSeconds' | 'view'>;
}

export function createMetrics(src: MetricsSource): Registry {
  const reg = new Registry();
  const snap = (): AgentSnapshot | undefined => src.snapshot();
  new Gauge({
    name: 'overlay_ipsec_agent_ready', help: '1 when every tunnel of this node is up', registers: [reg],
    collect() { this.set(src.ready() ? 1 : 0); },
  });
  new Gauge({
    name: 'overlay_ipsec_mode', help: '1 for the node\'s IPsec phase (Full, Disabled, enabling, disabling) and the wanted mode', labelNames: ['wanted', 'phase'], registers: [reg],
    collect() {
      this.reset();
      const m = snap()?.mode;
      if (m) this.set({ wanted: m.wanted, phase: m.phase }, 1);
    },
  });
  new Gauge({
    name: 'overlay_ipsec_pair_state', help: '1 for each peer pair\'s IPsec transition state', labelNames: ['peer', 'state'], registers: [reg],
    collect() {
      this.reset();
      for (const [peer, state] of Object.entries(snap()?.mode.pairs ?? {})) this.set({ peer, state }, 1);
    },
  });
  new Gauge({
    name: 'overlay_ipsec_sas', help: 'IKE and CHILD SAs by tunnel, kind and state', labelNames: ['tunnel', 'kind', 'state'], registers: [reg],
    collect() {
      this.reset();
      for (const s of snap()?.ike?.ike_sas ?? []) {
        this.inc({ tunnel: s.name, kind: 'ike', state: s.state });
        for (const c of s.children) this.inc({ tunnel: s.name, kind: 'child', state: c.state });
      }
    },
  });
  const espCounter = (name: string, help: string, pick: (a: ReturnType<typeof activeChildren>[number], dir: 'in' | 'out') => number) =>
    new Counter({
      name, help, labelNames: ['tunnel', 'connection', 'direction'], registers: [reg],
      collect() {
        this.reset();
        const s = snap();
        for (const a of activeChildren(s?.ike, s?.esp)) {
          for (const dir of ['in', 'out'] as const) this.inc({ tunnel: a.tunnel, connection: a.conn, direction: dir }, pick(a, dir));
        }
      },
    });
  espCounter('overlay_ipsec_esp_bytes_total', 'ESP payload bytes of the current child SAs', (a, d) => (d === 'in' ? a.bytes_in : a.bytes_out));
  espCounter('overlay_ipsec_esp_packets_total', 'ESP packets of the current child SAs', (a, d) => (d === 'in' ? a.packets_in : a.packets_out));
  const overlayCounter = (name: string, help: string, bytes: boolean) =>
    new Counter({
      name, help, labelNames: ['tunnel', 'direction'], registers: [reg],
      collect() {
        this.reset();
        for (const t of snap()?.overlay.tunnels ?? []) {
          this.inc({ tunnel: t.name, direction: 'in' }, bytes ? t.bytes_in : t.packets_in);
          this.inc({ tunnel: t.name, direction: 'out' }, bytes ? t.bytes_out : t.packets_out);
        }
      },
    });
  overlayCounter('overlay_ipsec_geneve_bytes_total', 'Inner Ethernet bytes through each Geneve tunnel', true);
  overlayCounter('overlay_ipsec_geneve_packets_total', 'Packets through each Geneve tunnel', false);
  new Counter({
    name: 'overlay_ipsec_drops_total', help: 'Packets dropped, by layer and cause', labelNames: ['layer', 'cause'], registers: [reg],
    collect() {
      this.reset();
      const s = snap();
      if (!s) return;
      const add = (layer: string, counts: Record<string, number>) => {
        for (const [cause, n] of Object.entries(counts)) this.inc({ layer, cause }, n);
      };
      add('overlay_in', s.overlay.drops.inbound);
      add('overlay_out', s.overlay.drops.outbound);
      if (s.esp) {
        add('esp_in', s.esp.drops);
        add('esp_out', s.esp.outbound_drops);
      }
    },
  });
  new Counter({
    name: 'overlay_ipsec_child_rekeys_total', help: 'Child SAs rekeyed (a new pair installed in place of the one it replaces)', labelNames: ['tunnel'], registers: [reg],
    collect() {
      this.reset();
      for (const [tunnel, n] of src.rekeys()) this.inc({ tunnel }, n);
    },
  });
  new Gauge({
    name: 'overlay_ipsec_certificate_expiry_seconds', help: 'Seconds until the node certificate ends', registers: [reg],
    collect() {
      const na = src.certNotAfterMs();
      if (na !== undefined) this.set(Math.round((na - src.now()) / 1000));
    },
  });
  new Gauge({
    name: 'overlay_ipsec_control_plane_reachable', help: '1 while the store answers; 0 while the node runs on what it last read (its tunnels stay)', registers: [reg],
    collect() { this.set(src.controlPlane.reachable ? 1 : 0); },
  });
  new Gauge({
    name: 'overlay_ipsec_control_plane_unreachable_seconds', help: 'How long the store has not answered (0 while it does)', registers: [reg],
    collect() { this.set(Math.round(src.controlPlane.unreachableSeconds())); },
  });
  new Gauge({
    name: 'overlay_ipsec_liveness_lease_held', help: '1 while the node\'s liveness lease (etcd) is renewed in time, 0 when lost; absent with the directory store', registers: [reg],
    collect() {
      this.reset();
      const l = src.controlPlane.view().liveness;
      if (l !== undefined) this.set(l === 'held' ? 1 : 0);
    },
  });
  return reg;
}

/** Serves /metrics on address:port; resolves once listening. */
export async function serveMetrics(reg: Registry, address: string, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('not found; try /metrics\n');
      return;
    }
    reg.metrics().then(
      (text) => res.writeHead(200, { 'content-type': reg.contentType }).end(text),
      (err: Error) => res.writeHead(500).end(`${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
