import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { ExitError } from './errors.js';

/**
 * The external programs the product runs, the Debian package that provides each, and the check
 * made before the first use of any of them: a missing program is one line naming it and its
 * package (exit 2), never a failed exec deep inside a half-built cluster.
 */

export const PROGRAM_PACKAGES = {
  ip: 'iproute2',
  ss: 'iproute2',
  sysctl: 'procps',
  ping: 'iputils-ping',
  tcpdump: 'tcpdump',
  tshark: 'tshark',
  nft: 'nftables',
  iperf3: 'iperf3',
  openssl: 'openssl',
  etcd: 'etcd-server',
} as const;

export type Program = keyof typeof PROGRAM_PACKAGES;

/** Where `name` would be run from: the first executable file of that name in `searchPath`, as execvp looks. */
export function findProgram(name: string, searchPath: string = process.env.PATH ?? ''): string | undefined {
  for (const dir of searchPath.split(':')) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here, or not executable: execvp would go on too
    }
  }
  return undefined;
}

export function missingPrograms(programs: readonly Program[], searchPath: string = process.env.PATH ?? ''): Program[] {
  return [...new Set(programs)].filter((p) => findProgram(p, searchPath) === undefined);
}

/** The Debian packages that provide these programs, each once, in order. */
export function packagesFor(programs: readonly Program[]): string[] {
  return [...new Set(programs.map((p) => PROGRAM_PACKAGES[p]))];
}

/** "tcpdump (package tcpdump) and ping (package iputils-ping)" */
export function describePrograms(programs: readonly Program[]): string {
  const each = programs.map((p) => `${p} (package ${PROGRAM_PACKAGES[p]})`);
  return each.length > 1 ? `${each.slice(0, -1).join(', ')} and ${each[each.length - 1]}` : (each[0] ?? '');
}

/** Programs this command runs are not on PATH: names them, their packages and how to get them. Exit 2. */
export class MissingPrograms extends ExitError {
  readonly exitCode = 2 as const;
  constructor(readonly what: string, readonly programs: readonly Program[], howToInstall?: string) {
    const pkgs = packagesFor(programs).join(' ');
    super(`${what} needs ${describePrograms(programs)}, not found in PATH; ${howToInstall ?? `install ${programs.length > 1 ? 'them' : 'it'}: apt-get install -y ${pkgs}`}`);
    this.name = 'MissingPrograms';
  }
}

/** Throws MissingPrograms unless every program is on PATH. `what` names the command, e.g. "overlay-ipsec verify". */
export function requirePrograms(programs: readonly Program[], what: string, searchPath?: string): void {
  const missing = missingPrograms(programs, searchPath);
  if (missing.length) throw new MissingPrograms(what, missing);
}
