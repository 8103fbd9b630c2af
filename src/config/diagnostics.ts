import { ConfigError } from '../util/errors.js';

/** One finding about a config file: where (file, key path) and what to do. */
export interface Diagnostic {
  severity: 'error' | 'warning';
  file: string;
  /** Dotted key path inside the file, e.g. `spec.defaultNetwork.ovnKubernetesConfig.mtu`; '' for the file as a whole. */
  key: string;
  problem: string;
  fix?: string;
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}: ${d.key || '(top level)'}: ${d.problem}${d.fix ? ` (${d.fix})` : ''}`;
}

export function toConfigError(d: Diagnostic): ConfigError {
  return new ConfigError(d.file, d.key, d.problem, d.fix);
}

/** Collects findings while the checks run. */
export class Findings {
  readonly errors: Diagnostic[] = [];
  readonly warnings: Diagnostic[] = [];
  error(file: string, key: string, problem: string, fix?: string): void {
    this.errors.push({ severity: 'error', file, key, problem, ...(fix ? { fix } : {}) });
  }
  warn(file: string, key: string, problem: string, fix?: string): void {
    this.warnings.push({ severity: 'warning', file, key, problem, ...(fix ? { fix } : {}) });
  }
}
