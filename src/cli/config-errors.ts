import { formatDiagnostic, type Diagnostic } from '../config/index.js';
import { ExitError } from '../util/errors.js';

/** A config with many problems shows this many, one a line, and counts the rest. */
export const MAX_SHOWN_CONFIG_ERRORS = 10;

class ConfigErrors extends ExitError {
  readonly exitCode = 2 as const;
}

/**
 * Config errors on stderr, one a line, at most MAX_SHOWN_CONFIG_ERRORS; the last one shown goes
 * through the CLI's error path (exit 2) with the count of those not shown.
 */
export function throwConfigErrors(errors: readonly Diagnostic[]): never {
  const shown = errors.slice(0, MAX_SHOWN_CONFIG_ERRORS);
  for (const e of shown.slice(0, -1)) process.stderr.write(`overlay-ipsec: ${formatDiagnostic(e)}\n`);
  const rest = errors.length - shown.length;
  throw new ConfigErrors(`${formatDiagnostic(shown[shown.length - 1]!)}${rest > 0 ? `; ${rest} more errors not shown` : ''}`);
}
