import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fixturesDir } from '../helpers/paths.js';

/**
 * A fuzz target: one parser (or one engine entry point) that takes bytes from the network or the
 * user. A harness is built once and fed many inputs; each input must come back with the cause it
 * was accepted or refused under (the same causes the daemons count), never an exception, and the
 * harness's state must stay within the bounds check() asserts.
 */
export interface FuzzTarget {
  name: string;
  /** What the bytes are and which code parses them (for reports). */
  what: string;
  /** Directories under test/fixtures/fuzz whose files seed this target. */
  corpusDirs: string[];
  /** When set, each corpus file seeds once per byte here, put in front (the harness's mode byte). */
  corpusPrefixes?: number[];
  create(): Promise<Harness> | Harness;
}

export interface Harness {
  /** Extra seeds the harness makes itself (e.g. messages sealed with keys only it knows). */
  seeds(): Buffer[];
  /** Feeds one input; returns its cause ('accepted:…' or the refusal cause). Must not throw. */
  run(input: Buffer): string | Promise<string>;
  /** Throws when state grew beyond its bounds (memory) or an invariant broke. */
  check(): void;
  /** State sizes worth reporting (SAs, half-open, fragments held…). */
  sizes?(): Record<string, number>;
  close?(): Promise<void> | void;
}

export const FUZZ_FIXTURES = path.join(fixturesDir, 'fuzz');

/** The files of the given corpus directories, in a stable order. */
export function loadCorpus(dirs: readonly string[]): { name: string; bytes: Buffer }[] {
  const out: { name: string; bytes: Buffer }[] = [];
  for (const d of dirs) {
    const dir = path.join(FUZZ_FIXTURES, d);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).sort()) out.push({ name: `${d}/${f}`, bytes: readFileSync(path.join(dir, f)) });
  }
  return out;
}

/** Counts of causes, as printed by the campaign and asserted by the tests. */
export class CauseCounts {
  readonly counts = new Map<string, number>();
  add(cause: string): void {
    this.counts.set(cause, (this.counts.get(cause) ?? 0) + 1);
  }
  total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }
  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort((a, b) => b[1] - a[1]));
  }
}

/** The seeds of a target: its corpus files (with their mode bytes) and what its harness makes. */
export function seedsFor(t: FuzzTarget, h: Harness): { name: string; bytes: Buffer }[] {
  const files = loadCorpus(t.corpusDirs);
  const out: { name: string; bytes: Buffer }[] = [];
  for (const f of files) {
    if (!t.corpusPrefixes) out.push(f);
    else for (const b of t.corpusPrefixes) out.push({ name: `${f.name}@${b}`, bytes: Buffer.concat([Buffer.from([b]), f.bytes]) });
  }
  h.seeds().forEach((bytes, i) => out.push({ name: `${t.name}:generated-${i}`, bytes }));
  return out;
}

/**
 * A config diagnostic's key as a cause label: YAML syntax errors (keyed by line) are one cause,
 * key paths keep their first segments with indices folded, and keys the mutation made up (not
 * plain identifiers) are one cause, so that counts stay readable.
 */
export function keyCause(prefix: string, key: string, problem = '', depth = 3): string {
  if (/unknown key/i.test(problem)) return `${prefix}:unknown-key`;
  if (key === '') return `${prefix}:(top level)`;
  if (/^line \d+/.test(key)) return `${prefix}:yaml-syntax`;
  const segs = key.replace(/\[\d+\]/g, '[N]').replace(/-\d+(?=\.|$)/g, '-N').split('.').slice(0, depth);
  return segs.every((s) => /^[A-Za-z_][\w-]*(\[N\])?$/.test(s)) ? `${prefix}:${segs.join('.')}` : `${prefix}:unknown-key`;
}
