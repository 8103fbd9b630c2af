import { spawn } from 'node:child_process';
import { ExitError } from './errors.js';
import { findProgram, MissingPrograms, missingPrograms, packagesFor, type Program } from './programs.js';

/**
 * The main job (`up`) installs the Debian packages it runs programs from when they are missing and
 * it runs as root — a fresh machine needs nothing but Node and npm. It says so in one line. It
 * installs nothing when not root, when `OI_NO_INSTALL=1`, or without apt-get: then it stops with one
 * line naming the programs, their packages and the command that installs them (exit 2), before
 * anything is built. `OI_PACKAGE_INSTALLER=PROGRAM` runs PROGRAM with the package names instead of
 * apt-get (tests use it to install nothing real).
 */

/** Installs Debian packages by name; rejects with a PackageInstallFailed. */
export type PackageInstaller = (packages: readonly string[]) => Promise<void>;

export type InstallDecision =
  | { kind: 'present' }
  | { kind: 'install'; programs: Program[]; packages: string[] }
  | { kind: 'refuse'; programs: Program[]; packages: string[]; why: 'not-root' | 'forbidden' | 'no-installer' };

export interface InstallContext {
  searchPath: string;
  uid: number;
  /** OI_NO_INSTALL=1: the user keeps package installation to themselves. */
  noInstall: boolean;
  /** An installer exists (apt-get on PATH, or one given). */
  canInstall: boolean;
}

/** What to do about `programs`: nothing, install their packages, or refuse (and why). */
export function decideInstall(programs: readonly Program[], c: InstallContext): InstallDecision {
  const missing = missingPrograms(programs, c.searchPath);
  if (missing.length === 0) return { kind: 'present' };
  const packages = packagesFor(missing);
  if (c.uid !== 0) return { kind: 'refuse', programs: missing, packages, why: 'not-root' };
  if (c.noInstall) return { kind: 'refuse', programs: missing, packages, why: 'forbidden' };
  if (!c.canInstall) return { kind: 'refuse', programs: missing, packages, why: 'no-installer' };
  return { kind: 'install', programs: missing, packages };
}

/** The installer could not install (apt-get failed, or the programs are still missing after it). Exit 2. */
export class PackageInstallFailed extends ExitError {
  readonly exitCode = 2 as const;
}

export interface EnsureOptions {
  /** The command, as messages name it: "overlay-ipsec up". */
  what: string;
  /** Prints the one line that says what is being installed. */
  say: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  install?: PackageInstaller;
}

/** Makes sure `programs` can be run, installing their packages if allowed; returns the packages installed. */
export async function ensurePrograms(programs: readonly Program[], o: EnsureOptions): Promise<string[]> {
  const env = o.env ?? process.env;
  const searchPath = env.PATH ?? '';
  const install = o.install ?? installerFromEnv(env);
  const d = decideInstall(programs, {
    searchPath,
    uid: o.uid ?? process.getuid?.() ?? 0,
    noInstall: env.OI_NO_INSTALL === '1',
    canInstall: install !== undefined,
  });
  if (d.kind === 'present') return [];
  const them = d.programs.length > 1 ? 'them' : 'it';
  const pkgs = d.packages.join(' ');
  if (d.kind === 'refuse') {
    const how = {
      'not-root': `install ${them}: sudo apt-get install -y ${pkgs} (run as root, ${o.what} installs ${them} itself)`,
      forbidden: `install ${them}: apt-get install -y ${pkgs} (OI_NO_INSTALL=1 keeps ${o.what} from installing ${them})`,
      'no-installer': `install ${them} with this system's package manager (Debian packages: ${pkgs})`,
    }[d.why];
    throw new MissingPrograms(o.what, d.programs, how);
  }
  o.say(`${o.what}: installing the Debian packages ${pkgs} (for ${d.programs.join(', ')}, not found in PATH)`);
  await install!(d.packages);
  const still = missingPrograms(d.programs, searchPath);
  if (still.length) throw new PackageInstallFailed(`${o.what}: installed ${pkgs}, but ${still.join(', ')} still cannot be found in PATH (${searchPath})`);
  return d.packages;
}

function installerFromEnv(env: NodeJS.ProcessEnv): PackageInstaller | undefined {
  if (env.OI_PACKAGE_INSTALLER) return commandInstaller([env.OI_PACKAGE_INSTALLER], env);
  const apt = findProgram('apt-get', env.PATH ?? '');
  return apt ? aptInstaller(apt, env) : undefined;
}

/** apt-get install, quietly; when the package lists are stale or absent (a fresh image), update them and try once more. */
export function aptInstaller(aptGet: string, env: NodeJS.ProcessEnv = process.env): PackageInstaller {
  const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
  return async (packages) => {
    const install = [aptGet, 'install', '-y', '-q', ...packages];
    if ((await runQuiet(install, aptEnv)).code === 0) return;
    await runQuiet([aptGet, 'update', '-q'], aptEnv);
    const r = await runQuiet(install, aptEnv);
    if (r.code !== 0) throw new PackageInstallFailed(`apt-get install ${packages.join(' ')} failed (exit ${r.code}): ${lastLine(r.stderr)}`);
  };
}

/** Runs `argv` with the package names appended. */
export function commandInstaller(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): PackageInstaller {
  return async (packages) => {
    const r = await runQuiet([...argv, ...packages], env);
    if (r.code !== 0) throw new PackageInstallFailed(`${argv.join(' ')} ${packages.join(' ')} failed (exit ${r.code}): ${lastLine(r.stderr)}`);
  };
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop() || 'no message';
}

/** Runs a command with stdout discarded and stderr kept for the error message. */
function runQuiet(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr = (stderr + d).slice(-4000); });
    child.once('error', (err) => resolve({ code: 127, stderr: err.message }));
    child.once('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stderr }));
  });
}
