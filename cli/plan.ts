/**
 * What `pools apply` would change: a pure comparison of the pools in a file with the
 * pools on the server, field by field, both with every default applied.
 */
import type { PoolSpec } from '../shared/domain/pool-spec.js';

export interface FieldChange {
  /** Dotted path: `targetReady`, `healthCheck.port`. Arrays compare whole. */
  field: string;
  from: unknown;
  to: unknown;
}

export type PoolChange =
  | { pool: string; action: 'create' }
  | { pool: string; action: 'update'; fields: FieldChange[] }
  | { pool: string; action: 'unchanged'; note?: string }
  /** Not in the file and --prune: DELETE /pools/{name} (disable and drain). */
  | { pool: string; action: 'disable' }
  /** Not in the file, no --prune: left alone. */
  | { pool: string; action: 'ignore' };

export interface NamedSpec {
  name: string;
  spec: PoolSpec;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equal(x, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) if (!equal(a[k], b[k])) return false;
    return true;
  }
  return false;
}

/** The leaf fields that differ between two specs (objects recurse; arrays and scalars compare whole). */
export function diffSpecs(from: unknown, to: unknown, prefix = ''): FieldChange[] {
  if (isPlainObject(from) && isPlainObject(to)) {
    const keys = [...Object.keys(to), ...Object.keys(from).filter((k) => !(k in to))];
    return keys.flatMap((k) => diffSpecs(from[k], to[k], prefix ? `${prefix}.${k}` : k));
  }
  return equal(from, to) ? [] : [{ field: prefix || '(spec)', from, to }];
}

/** The change for every pool: those in the file in file order, then the server's others by name. */
export function planApply(desired: NamedSpec[], current: NamedSpec[], options: { prune: boolean }): PoolChange[] {
  const onServer = new Map(current.map((p) => [p.name, p]));
  const changes: PoolChange[] = desired.map(({ name, spec }) => {
    const existing = onServer.get(name);
    if (!existing) return { pool: name, action: 'create' };
    const fields = diffSpecs(existing.spec, spec);
    return fields.length === 0 ? { pool: name, action: 'unchanged' } : { pool: name, action: 'update', fields };
  });
  const inFile = new Set(desired.map((p) => p.name));
  const others = current.filter((p) => !inFile.has(p.name)).sort((a, b) => a.name.localeCompare(b.name));
  for (const p of others) {
    if (!options.prune) changes.push({ pool: p.name, action: 'ignore' });
    else if (p.spec.enabled) changes.push({ pool: p.name, action: 'disable' });
    else changes.push({ pool: p.name, action: 'unchanged', note: 'not in the file; already disabled' });
  }
  return changes;
}

export function summarize(changes: PoolChange[]): Record<PoolChange['action'], number> {
  const counts = { create: 0, update: 0, unchanged: 0, disable: 0, ignore: 0 };
  for (const c of changes) counts[c.action]++;
  return counts;
}
