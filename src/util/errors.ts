/**
 * Errors that carry their own exit code, so the CLI can honour CONTRACTS.md:
 * 0 ok, 1 the check or operation failed, 2 bad usage / bad config / missing privilege.
 */
export abstract class ExitError extends Error {
  abstract readonly exitCode: 1 | 2;
}

/** A config problem: names the file, the key path inside it and what to do about it. */
export class ConfigError extends ExitError {
  readonly exitCode = 2 as const;
  constructor(
    readonly file: string,
    readonly key: string,
    readonly problem: string,
    readonly fix?: string,
  ) {
    super(`${file}: ${key || '(top level)'}: ${problem}${fix ? ` (${fix})` : ''}`);
    this.name = 'ConfigError';
  }
}

/** Wrong arguments, or an environment the command cannot work in. */
export class UsageError extends ExitError {
  readonly exitCode = 2 as const;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The command needs root (network namespaces, TUN devices). */
export class PrivilegeError extends ExitError {
  readonly exitCode = 2 as const;
  constructor(what: string) {
    super(`${what} needs root (CAP_NET_ADMIN); run it as root, e.g. with sudo`);
    this.name = 'PrivilegeError';
  }
}

/** The operation ran but its result is a failure (verify saw cleartext, enrollment refused, ...). */
export class OperationFailed extends ExitError {
  readonly exitCode = 1 as const;
  constructor(message: string) {
    super(message);
    this.name = 'OperationFailed';
  }
}

export function requireRoot(what: string): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new PrivilegeError(what);
}
