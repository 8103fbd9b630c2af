import { readFile } from 'node:fs/promises';
import { UsageError } from '../util/errors.js';

/** `--underlay-mtu` and `--underlay-interface`, as `config validate` and `config apply` read them. */

export function parseMtu(v: string): number {
  if (!/^[0-9]+$/.test(v) || Number(v) < 68 || Number(v) > 65535) throw new UsageError(`--underlay-mtu: "${v}" is not an MTU (68-65535)`);
  return Number(v);
}

/** The MTU of a host interface, the underlay MTU when validating on a node. */
export async function interfaceMtu(name: string): Promise<number> {
  if (!/^[A-Za-z0-9_.@-]{1,15}$/.test(name)) throw new UsageError(`--underlay-interface: "${name}" is not an interface name`);
  try {
    return Number((await readFile(`/sys/class/net/${name}/mtu`, 'utf8')).trim());
  } catch {
    throw new UsageError(`--underlay-interface: no interface "${name}" in this network namespace`);
  }
}
