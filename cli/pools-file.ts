/**
 * A pools file: `pools: {name: spec}`, the format of local/pools.yaml. Everything is
 * validated locally (pool names, and every spec with the same parsePoolSpec the API
 * uses) before anything is sent; every problem is reported at once, each with the file,
 * its line and column, the pool and the field.
 */
import { readFile } from 'node:fs/promises';
import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { isValidPoolName, parsePoolSpec, type PoolSpec } from '../shared/domain/pool-spec.js';
import { UsageError } from './errors.js';

export interface DesiredPool {
  name: string;
  /** The spec as written (what is sent: the API applies the defaults). */
  input: Record<string, unknown>;
  /** The spec with every default applied (what it is compared with). */
  spec: PoolSpec;
}

export interface PoolsFile {
  file: string;
  pools: DesiredPool[];
}

type Key = string | number;

interface Position {
  line: number;
  col: number;
}

/** Where a key of a mapping is written (unknown fields, pool names, parents of missing fields). */
function locateKey(doc: Document, lines: LineCounter, mapPath: Key[], key: Key): Position | null {
  const map = mapPath.length === 0 ? doc.contents : doc.getIn(mapPath, true);
  if (!isMap(map)) return null;
  for (const item of map.items) {
    if (isScalar(item.key) && String(item.key.value) === String(key) && item.key.range) return lines.linePos(item.key.range[0]);
  }
  return null;
}

/** Where the value at a path is written; for a missing value, the key of its nearest parent. */
function locate(doc: Document, lines: LineCounter, path: Key[]): Position {
  const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
  if (node && typeof node === 'object' && node.range) return lines.linePos(node.range[0]);
  for (let n = path.length - 1; n >= 1; n--) {
    const parent = locateKey(doc, lines, path.slice(0, n - 1), path[n - 1]!);
    if (parent) return parent;
  }
  return { line: 1, col: 1 };
}

const pos = (p: Position) => `${p.line}:${p.col}`;

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function pathKeys(path: string): Key[] {
  if (path === '(spec)' || path === '') return [];
  return path.split('.').map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function getAt(value: unknown, keys: Key[]): unknown {
  let v = value;
  for (const k of keys) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<Key, unknown>)[k];
  }
  return v;
}

/** Parses and validates a pools file's text. Throws a UsageError listing every problem. */
export function parsePoolsFile(text: string, file: string): PoolsFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      const [head, ...context] = e.message.split('\n');
      const what = (head ?? '').replace(/ at line \d+, column \d+:?$/, '');
      return [
        `${file}:${pos ? `${pos.line}:${pos.col}` : '1:1'}: YAML syntax error: ${what}`,
        ...context.filter((l) => l.trim() !== '').map((l) => `    ${l}`),
      ].join('\n');
    });
    throw new UsageError(`${file}: not valid YAML; nothing was sent`, problems);
  }

  const top: unknown = doc.toJS();
  const problems: Array<Position & { text: string }> = [];
  const problem = (where: Position, text: string) => problems.push({ ...where, text: `${file}:${pos(where)}: ${text}` });
  if (top === null || top === undefined) {
    throw new UsageError(`${file}: the file is empty; expected "pools:" with one entry per pool (name: spec)`);
  }
  if (!isPlainObject(top) || !('pools' in top)) {
    throw new UsageError(`${file}:1:1: expected a mapping with a "pools" key ("pools: {name: spec}", as in local/pools.yaml)`);
  }
  for (const key of Object.keys(top)) {
    if (key !== 'pools') problem(locateKey(doc, lines, [], key) ?? { line: 1, col: 1 }, `unknown top-level key "${key}" (the file has only "pools")`);
  }
  const pools = top.pools ?? {};
  if (!isPlainObject(pools)) {
    throw new UsageError(`${file}:${pos(locate(doc, lines, ['pools']))}: "pools" must be a mapping of pool name to spec`);
  }

  const desired: DesiredPool[] = [];
  for (const [name, input] of Object.entries(pools)) {
    const where = locate(doc, lines, ['pools', name]);
    if (!isValidPoolName(name)) {
      problem(
        locateKey(doc, lines, ['pools'], name) ?? where,
        `pool "${name}": not a valid pool name (lowercase letters, digits and -, starting with a letter, at most 40 characters)`,
      );
      continue;
    }
    if (!isPlainObject(input)) {
      problem(where, `pool "${name}": the spec must be a mapping of fields (image, machineType, zones, targetReady, maxSize, …)`);
      continue;
    }
    const parsed = parsePoolSpec(input);
    if (parsed.ok) {
      desired.push({ name, input, spec: parsed.spec });
      continue;
    }
    for (const p of parsed.problems) {
      const keys = pathKeys(p.path);
      const unknown = /^unknown field\(s\): (.+)$/.exec(p.message);
      if (unknown) {
        for (const field of unknown[1]!.split(', ')) {
          const full = [...keys, field].join('.');
          problem(
            locateKey(doc, lines, ['pools', name, ...keys], field) ?? locate(doc, lines, ['pools', name, ...keys]),
            `pool "${name}", field "${full}": unknown field`,
          );
        }
        continue;
      }
      const missing = keys.length > 0 && getAt(input, keys) === undefined;
      const message = missing ? 'is required' : p.message;
      const field = p.path === '(spec)' ? '' : `, field "${p.path}"`;
      problem(locate(doc, lines, ['pools', name, ...keys]), `pool "${name}"${field}: ${message}`);
    }
  }
  if (problems.length > 0) {
    problems.sort((a, b) => a.line - b.line || a.col - b.col);
    throw new UsageError(
      `${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}; nothing was sent`,
      problems.map((p) => p.text),
    );
  }
  return { file, pools: desired };
}

export async function loadPoolsFile(file: string): Promise<PoolsFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UsageError(`${file}: cannot read the file (${e.code === 'ENOENT' ? 'no such file' : (e.code ?? e.message)})`);
  }
  return parsePoolsFile(text, file);
}
