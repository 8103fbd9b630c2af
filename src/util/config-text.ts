import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { ConfigError } from './errors.js';

/**
 * Reads a config file as text, refusing what cannot be a config before a YAML parser turns it into
 * thousands of errors: more than MAX_CONFIG_BYTES (read no further than that, so /dev/zero or a
 * disk image costs nothing), or not text (a NUL byte, or bytes that are not UTF-8: a binary, an
 * archive, a key in DER). Every refusal is one ConfigError (exit 2) naming the file.
 */

/** Our configs are a few KB; 1 MiB leaves room for comments and long lists, not for a wrong file. */
export const MAX_CONFIG_BYTES = 1 << 20;

const WRONG_FILE = 'is this the right file? a config is a YAML text file';

/** Why these bytes are not a config's text, or undefined when they may be one. */
export function notTextProblem(bytes: Buffer): string | undefined {
  const nul = bytes.indexOf(0);
  if (nul >= 0) return `not a text file (a NUL byte at offset ${nul})`;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return 'not a text file (not valid UTF-8)';
  }
  return undefined;
}

function sizeText(bytes: number): string {
  if (bytes % (1 << 20) === 0) return `${bytes / (1 << 20)} MiB`;
  return bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} bytes`;
}

function readFailure(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return code ?? (err as Error).message;
}

/** The file's text; `readFix` says what to do when it cannot be read at all (e.g. "check the path given to --config"). */
export function readConfigText(file: string, readFix = 'check the path', maxBytes = MAX_CONFIG_BYTES): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new ConfigError(file, '', `cannot read the config file: ${readFailure(err)}`, readFix);
  }
  try {
    if (fstatSync(fd).isDirectory()) throw new ConfigError(file, '', 'cannot read the config file: is a directory', readFix);
    const buf = Buffer.alloc(maxBytes + 1);
    let got = 0;
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, got, buf.length - got, null);
      } catch (err) {
        throw new ConfigError(file, '', `cannot read the config file: ${readFailure(err)}`, readFix);
      }
      if (n === 0) break;
      got += n;
      if (got > maxBytes) throw new ConfigError(file, '', `more than ${sizeText(maxBytes)}: too big for a config`, WRONG_FILE);
    }
    const bytes = buf.subarray(0, got);
    const problem = notTextProblem(bytes);
    if (problem) throw new ConfigError(file, '', problem, WRONG_FILE);
    return bytes.toString('utf8');
  } finally {
    closeSync(fd);
  }
}
