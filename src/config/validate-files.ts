import { ConfigError } from '../util/errors.js';
import { readConfigText } from '../util/config-text.js';
import { Findings } from './diagnostics.js';
import { validateDocuments, type ValidateOptions, type ValidationResult } from './validate.js';

/**
 * Reads the config files and validates them together. A file that cannot be a config (missing,
 * binary, too big) is one finding naming it; no YAML parser sees it.
 */
export async function validateFiles(files: string[], opts: ValidateOptions = {}): Promise<ValidationResult> {
  const docs: { file: string; text: string }[] = [];
  const f = new Findings();
  for (const file of files) {
    try {
      docs.push({ file, text: readConfigText(file) });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      f.error(err.file, err.key, err.problem, err.fix);
    }
  }
  if (f.errors.length) return { errors: f.errors, warnings: f.warnings };
  return validateDocuments(docs, opts);
}
