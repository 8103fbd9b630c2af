import type { z } from 'zod';

/** A key present in the input that no schema describes, with the keys that would have been known there. */
export interface UnknownKey {
  path: (string | number)[];
  key: string;
  known: string[];
}

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
}

function defOf(s: z.ZodType): Def {
  return (s as unknown as { def: Def }).def;
}

/**
 * Walks a value alongside its zod schema and lists the keys the schema does not name.
 * Opaque subtrees (`unknown`, `any`) are not entered.
 */
export function unknownKeys(schema: z.ZodType, value: unknown, path: (string | number)[] = []): UnknownKey[] {
  const d = defOf(schema);
  switch (d.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
      return unknownKeys(d.innerType!, value, path);
    case 'union':
      // Use the first object-like alternative; our unions are "mapping or null".
      for (const o of d.options ?? []) if (defOf(o).type === 'object') return unknownKeys(o, value, path);
      return [];
    case 'array':
      if (!Array.isArray(value)) return [];
      return value.flatMap((v, i) => unknownKeys(d.element!, v, [...path, i]));
    case 'object': {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
      const shape = d.shape ?? {};
      const known = Object.keys(shape);
      const out: UnknownKey[] = [];
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        const sub = shape[k];
        if (!sub) out.push({ path: [...path, k], key: k, known });
        else out.push(...unknownKeys(sub, v, [...path, k]));
      }
      return out;
    }
    default:
      return [];
  }
}

/** `networking.clusterNetworks[0].cidr` */
export function formatPath(path: readonly (string | number | symbol)[]): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else s += (s ? '.' : '') + String(p);
  }
  return s;
}
