import { LineCounter, parseDocument } from 'yaml';
import type { Findings } from './diagnostics.js';
import { describe } from '../util/describe.js';

export type DocKind = 'install-config' | 'network';

export interface ParsedFile {
  file: string;
  kind: DocKind;
  value: Record<string, unknown>;
}

/** Parses one YAML text and tells which of the two inputs it is; records why not, if not. */
export function parseConfigText(file: string, text: string, f: Findings): ParsedFile | undefined {
  // uniqueKeys: a key given twice is a mistake whose winner is not obvious to the writer.
  const lines = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter: lines });
  if (doc.errors.length > 0) {
    // The first error only, and how many follow: a wrong file (a log, a binary) has thousands.
    const e = doc.errors[0]!;
    const at = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
    const more = doc.errors.length > 1 ? `; ${doc.errors.length - 1} more YAML errors after it` : '';
    f.error(file, at ? `line ${at.line} column ${at.col}` : '', `YAML syntax error: ${e.message.split('\n')[0]}${more}`,
      more ? 'is this the right file? fix the first error and check again' : 'fix the YAML syntax at that place');
    return undefined;
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // Aliases to missing anchors, alias bombs: the parser reports them only here.
    f.error(file, '', `YAML error: ${(err as Error).message.split('\n')[0]}`, 'fix the anchors and aliases (&name / *name) in the file');
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    f.error(file, '', `expected a mapping at the top of the file, got ${describe(value)}`, 'give an install-config.yaml or a Network manifest (kind: Network)');
    return undefined;
  }
  const v = value as Record<string, unknown>;
  if (v.kind === 'Network') return { file, kind: 'network', value: v };
  if (typeof v.kind === 'string') {
    f.error(file, 'kind', `kind "${v.kind}" is not a cluster network manifest`, 'use kind: Network with apiVersion: operator.openshift.io/v1');
    return undefined;
  }
  if ('networking' in v || 'baseDomain' in v || 'controlPlane' in v) return { file, kind: 'install-config', value: v };
  f.error(file, '', 'neither an install-config.yaml (no networking/baseDomain) nor a Network manifest (no kind: Network)', 'pass install-config.yaml and/or manifests/cluster-network-03-config.yml');
  return undefined;
}
