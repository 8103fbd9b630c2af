import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { formatCidr, parseIpv4, rangeToCidrs } from '../wire/address.js';
import type { ManualConnection, TunConfig } from './config.js';
import type { TrafficSelector } from '../wire/traffic-selector.js';

/** What routes need of a connection or IKE child. */
export type RoutedConnection = Pick<ManualConnection, 'name' | 'mode' | 'localAddr' | 'remoteAddr' | 'localTs' | 'remoteTs'>;

/**
 * Steering of protected traffic into the TUN by policy routing: a table of our own holds
 * "<remote_ts> dev <tun>" routes, and ip rules send only the selected flows to it
 * (`ip rule … to 10.254.2.0/24 lookup 2200`, or for transport mode
 * `… to 198.18.0.2 ipproto udp dport 6081 lookup 2200`). Rules of higher priority keep the
 * daemon's own UDP 500/4500 packets to each peer in the main table, so ESP never loops into
 * the TUN even when a selector covers the peer's address.
 */

export interface RoutePlan {
  /** Arguments after `ip rule add` (each removable with `ip rule del` and the same arguments). */
  rules: string[][];
  /** Arguments after `ip route replace` (removable with `ip route del`). */
  routes: string[][];
}

/** Ports of a selector as `ip rule` spells them; undefined when the selector allows any port. */
function portArg(ts: TrafficSelector): string | undefined {
  if (ts.startPort === 0 && ts.endPort === 65535) return undefined;
  return ts.startPort === ts.endPort ? String(ts.startPort) : `${ts.startPort}-${ts.endPort}`;
}

/** The selector's address range as CIDR blocks (routes and rules take prefixes). */
function selectorCidrs(ts: TrafficSelector): string[] {
  return rangeToCidrs({ start: ts.startAddr, end: ts.endAddr }).map(formatCidr);
}

/**
 * Computes rules and routes for the connections. `localSources` maps each tunnel-mode
 * connection to an address of this host inside its local_ts (used as the route's source), if any.
 */
export function planRoutes(conns: readonly RoutedConnection[], tun: TunConfig, localSources: ReadonlyMap<string, string>): RoutePlan {
  const table = String(tun.table);
  const guardPref = String(tun.rulePriority);
  const flowPref = String(tun.rulePriority + 1);
  const rules: string[][] = [];
  const routes: string[][] = [];
  const seen = new Set<string>();
  const add = (list: string[][], args: string[]): void => {
    const k = args.join(' ');
    if (!seen.has(k)) { seen.add(k); list.push(args); }
  };
  for (const c of conns) {
    for (const sport of ['4500', '500']) {
      add(rules, ['pref', guardPref, 'to', `${c.remoteAddr}/32`, 'ipproto', 'udp', 'sport', sport, 'lookup', 'main']);
    }
    const src = c.mode === 'transport' ? c.localAddr : localSources.get(c.name);
    for (const r of c.remoteTs) {
      for (const cidr of selectorCidrs(r)) {
        add(routes, [cidr, 'dev', tun.name, 'table', table, ...(src ? ['src', src] : [])]);
        for (const l of c.localTs) {
          const proto = r.protocol || l.protocol;
          if (r.protocol && l.protocol && r.protocol !== l.protocol) continue; // no packet matches both
          const dport = portArg(r);
          const sport = portArg(l);
          add(rules, ['pref', flowPref, 'to', cidr,
            ...(proto ? ['ipproto', String(proto)] : []),
            ...(sport ? ['sport', sport] : []),
            ...(dport ? ['dport', dport] : []),
            'lookup', table]);
        }
      }
    }
  }
  return { rules, routes };
}

function ip(args: string[], check = true): { ok: boolean; err: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  const ok = r.status === 0;
  if (!ok && check) throw new Error(`ip ${args.join(' ')}: ${(r.stderr || r.error?.message || '').trim()}`);
  return { ok, err: r.stderr ?? '' };
}

/** IPv4 addresses assigned on this host (in the current network namespace) and their devices. */
export function localIpv4Addresses(): { dev: string; addr: string }[] {
  const r = spawnSync('ip', ['-j', '-4', 'addr', 'show'], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  const links = JSON.parse(r.stdout) as { ifname?: string; addr_info?: { local?: string }[] }[];
  return links.flatMap((l) => (l.addr_info ?? []).filter((a) => !!a.local).map((a) => ({ dev: l.ifname ?? '?', addr: a.local! })));
}

/** For each tunnel-mode connection, the first local address inside one of its local_ts. */
export function findLocalSources(conns: readonly RoutedConnection[], addrs: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const c of conns) {
    if (c.mode !== 'tunnel') continue;
    const hit = addrs.find((a) => {
      const v = parseIpv4(a);
      return v !== null && c.localTs.some((t) => v >= t.startAddr && v <= t.endAddr);
    });
    if (hit) out.set(c.name, hit);
  }
  return out;
}

/** Brings the TUN up and installs a plan; remove() undoes exactly what was added. */
export class RouteInstaller {
  private readonly added: { kind: 'rule' | 'route'; args: string[] }[] = [];

  setupTun(tun: TunConfig): void {
    // A long queue between the kernel and our reader absorbs bursts while the event loop is
    // busy (the tun driver drops when its ring, sized by txqueuelen, is full).
    ip(['link', 'set', 'dev', tun.name, 'mtu', String(tun.mtu), 'txqueuelen', '4096', 'up']);
    // Decrypted packets arrive on the TUN from addresses routed elsewhere: strict reverse-path
    // filtering would drop them.
    writeFileSync(`/proc/sys/net/ipv4/conf/${tun.name}/rp_filter`, '2\n');
  }

  apply(plan: RoutePlan): void {
    for (const args of plan.routes) {
      ip(['route', 'replace', ...args]);
      this.added.push({ kind: 'route', args });
    }
    for (const args of plan.rules) {
      // A daemon that crashed may have left the same rule: remove it first so it is not doubled.
      while (ip(['rule', 'del', ...args], false).ok) { /* removed one stale copy */ }
      ip(['rule', 'add', ...args]);
      this.added.push({ kind: 'rule', args });
    }
  }

  /** Removes everything apply() added, newest first; never throws (it runs during shutdown). */
  remove(): string[] {
    const errors: string[] = [];
    for (const a of this.added.splice(0).reverse()) {
      const r = ip([a.kind, 'del', ...a.args], false);
      // Routes through the TUN disappear with the device; only rules must go by hand.
      if (!r.ok && a.kind === 'rule') errors.push(`ip rule del ${a.args.join(' ')}: ${r.err.trim()}`);
    }
    return errors;
  }
}
