/**
 * Structured queries, evaluated the way Firestore does: filters (field, unary, AND/OR),
 * explicit then implicit ordering (inequality fields, then `__name__`), documents lacking
 * an `orderBy` field excluded, cursors, offset, limit, projection.
 *
 * Fixes FACTS.md "orderBy(f) returns documents that lack f", "cursors (startAfter),
 * offset, collectionGroup ... are ignored" and "filters on nested field paths".
 */
import { FirestoreError, Status } from './errors.js';
import type { Cursor, StructuredQuery, StructuredQueryFilter } from './proto.js';
import {
  compareValues,
  fromProtoValue,
  getField,
  isDocumentIdPath,
  parseFieldPath,
  projectFields,
  sameTypeClass,
  valuesEqual,
  type FieldPath,
  type FsFields,
  type FsValue,
  type Micros,
} from './values.js';

export interface StoredDocument {
  /** Full resource name: projects/p/databases/d/documents/col/id. */
  readonly name: string;
  readonly fields: FsFields;
  readonly createTime: Micros;
  readonly updateTime: Micros;
}

type FieldOp =
  | 'LESS_THAN'
  | 'LESS_THAN_OR_EQUAL'
  | 'GREATER_THAN'
  | 'GREATER_THAN_OR_EQUAL'
  | 'EQUAL'
  | 'NOT_EQUAL'
  | 'ARRAY_CONTAINS'
  | 'IN'
  | 'ARRAY_CONTAINS_ANY'
  | 'NOT_IN';
const FIELD_OPS: Record<number, FieldOp> = {
  1: 'LESS_THAN',
  2: 'LESS_THAN_OR_EQUAL',
  3: 'GREATER_THAN',
  4: 'GREATER_THAN_OR_EQUAL',
  5: 'EQUAL',
  6: 'NOT_EQUAL',
  7: 'ARRAY_CONTAINS',
  8: 'IN',
  9: 'ARRAY_CONTAINS_ANY',
  10: 'NOT_IN',
};
type UnaryOp = 'IS_NAN' | 'IS_NULL' | 'IS_NOT_NAN' | 'IS_NOT_NULL';
const UNARY_OPS: Record<number, UnaryOp> = { 2: 'IS_NAN', 3: 'IS_NULL', 4: 'IS_NOT_NAN', 5: 'IS_NOT_NULL' };
const INEQUALITY_OPS: ReadonlySet<FieldOp | UnaryOp> = new Set([
  'LESS_THAN',
  'LESS_THAN_OR_EQUAL',
  'GREATER_THAN',
  'GREATER_THAN_OR_EQUAL',
  'NOT_EQUAL',
  'NOT_IN',
  'IS_NOT_NAN',
  'IS_NOT_NULL',
]);

export type Filter =
  | { readonly type: 'composite'; readonly op: 'AND' | 'OR'; readonly filters: readonly Filter[] }
  | { readonly type: 'field'; readonly path: FieldPath; readonly pathKey: string; readonly op: FieldOp; readonly value: FsValue }
  | { readonly type: 'unary'; readonly path: FieldPath; readonly pathKey: string; readonly op: UnaryOp };

interface Order {
  readonly path: FieldPath;
  readonly pathKey: string;
  readonly descending: boolean;
}

interface Bound {
  readonly values: readonly FsValue[];
  readonly before: boolean;
}

export interface Query {
  /** Documents root or a document: projects/p/databases/d/documents[/col/doc...]. */
  readonly parent: string;
  readonly collectionId: string;
  readonly allDescendants: boolean;
  readonly where: Filter | null;
  /** The effective order: explicit, then implicit inequality fields, then __name__. */
  readonly orderBy: readonly Order[];
  readonly startAt: Bound | null;
  readonly endAt: Bound | null;
  readonly offset: number;
  readonly limit: number | null;
  readonly select: readonly FieldPath[] | null;
}

const invalid = (message: string): FirestoreError => new FirestoreError(Status.INVALID_ARGUMENT, message);

function parseFilter(f: StructuredQueryFilter): Filter | null {
  switch (f.filter_type) {
    case 'composite_filter': {
      const op = f.composite_filter.op === 2 ? 'OR' : 'AND';
      const filters = f.composite_filter.filters.map(parseFilter).filter((x): x is Filter => x !== null);
      if (filters.length === 0) return null;
      return filters.length === 1 ? (filters[0] as Filter) : { type: 'composite', op, filters };
    }
    case 'field_filter': {
      const op = FIELD_OPS[f.field_filter.op];
      if (!op) throw invalid('Invalid field filter operator.');
      const pathKey = f.field_filter.field.field_path;
      const value = fromProtoValue(f.field_filter.value);
      if ((op === 'IN' || op === 'NOT_IN' || op === 'ARRAY_CONTAINS_ANY') && value.kind !== 'array') {
        throw invalid(`A filter with operator ${op} requires an array value.`);
      }
      return { type: 'field', path: parseFieldPath(pathKey), pathKey, op, value };
    }
    case 'unary_filter': {
      const op = UNARY_OPS[f.unary_filter.op];
      if (!op) throw invalid('Invalid unary filter operator.');
      const pathKey = f.unary_filter.field.field_path;
      return { type: 'unary', path: parseFieldPath(pathKey), pathKey, op };
    }
    default:
      return null;
  }
}

function inequalityFields(filter: Filter | null, out: Map<string, FieldPath>): Map<string, FieldPath> {
  if (!filter) return out;
  if (filter.type === 'composite') {
    for (const f of filter.filters) inequalityFields(f, out);
  } else if (INEQUALITY_OPS.has(filter.op)) {
    out.set(filter.pathKey, filter.path);
  }
  return out;
}

function parseBound(cursor: Cursor): Bound {
  return { values: cursor.values.map(fromProtoValue), before: cursor.before };
}

export function parseQuery(parent: string, q: StructuredQuery): Query {
  if (q.from.length !== 1) throw invalid('A query must select exactly one collection.');
  const from = q.from[0]!;
  if (q.has_find_nearest) throw new FirestoreError(Status.UNIMPLEMENTED, 'findNearest is not supported by this emulator.');
  const where = q.has_where ? parseFilter(q.where) : null;

  const orderBy: Order[] = q.order_by.map((o) => ({
    path: parseFieldPath(o.field.field_path),
    pathKey: o.field.field_path,
    descending: o.direction === 2,
  }));
  const ordered = new Set(orderBy.map((o) => o.pathKey));
  const implicit = [...inequalityFields(where, new Map())].filter(([key]) => !ordered.has(key) && key !== '__name__');
  implicit.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [pathKey, path] of implicit) orderBy.push({ path, pathKey, descending: false });
  if (!orderBy.some((o) => isDocumentIdPath(o.path))) {
    const last = orderBy[orderBy.length - 1];
    orderBy.push({ path: ['__name__'], pathKey: '__name__', descending: last?.descending ?? false });
  }

  return {
    parent,
    collectionId: from.collection_id,
    allDescendants: from.all_descendants,
    where,
    orderBy,
    startAt: q.has_start_at ? parseBound(q.start_at) : null,
    endAt: q.has_end_at ? parseBound(q.end_at) : null,
    offset: q.offset,
    limit: q.has_limit ? q.limit.value : null,
    select: q.has_select ? q.select.fields.map((f) => parseFieldPath(f.field_path)) : null,
  };
}

// ───────────────────────────── evaluation ─────────────────────────────

function valueAt(doc: StoredDocument, path: FieldPath): FsValue | undefined {
  return isDocumentIdPath(path) ? { kind: 'reference', value: doc.name } : getField(doc.fields, path);
}

const isNaNValue = (v: FsValue | undefined): boolean => v?.kind === 'double' && Number.isNaN(v.value);
const contains = (values: readonly FsValue[], v: FsValue): boolean => values.some((x) => valuesEqual(x, v));

function matches(filter: Filter, doc: StoredDocument): boolean {
  if (filter.type === 'composite') {
    return filter.op === 'AND' ? filter.filters.every((f) => matches(f, doc)) : filter.filters.some((f) => matches(f, doc));
  }
  const v = valueAt(doc, filter.path);
  if (filter.type === 'unary') {
    switch (filter.op) {
      case 'IS_NAN':
        return isNaNValue(v);
      case 'IS_NULL':
        return v?.kind === 'null';
      case 'IS_NOT_NAN':
        return v !== undefined && !isNaNValue(v);
      case 'IS_NOT_NULL':
        return v !== undefined && v.kind !== 'null';
    }
  }
  // Every filter excludes documents lacking the field.
  if (v === undefined) return false;
  const operand = filter.value;
  switch (filter.op) {
    case 'EQUAL':
      return valuesEqual(v, operand);
    case 'NOT_EQUAL':
      return v.kind !== 'null' && !valuesEqual(v, operand);
    case 'IN':
      return operand.kind === 'array' && contains(operand.values, v);
    case 'NOT_IN':
      return operand.kind === 'array' && v.kind !== 'null' && !contains(operand.values, v);
    case 'ARRAY_CONTAINS':
      return v.kind === 'array' && contains(v.values, operand);
    case 'ARRAY_CONTAINS_ANY':
      return v.kind === 'array' && operand.kind === 'array' && operand.values.some((o) => contains(v.values, o));
    default: {
      // Range filters only match values of the same type (numbers are one type); NaN never matches.
      if (!sameTypeClass(v, operand) || isNaNValue(v) || isNaNValue(operand)) return false;
      const c = compareValues(v, operand);
      if (filter.op === 'LESS_THAN') return c < 0;
      if (filter.op === 'LESS_THAN_OR_EQUAL') return c <= 0;
      if (filter.op === 'GREATER_THAN') return c > 0;
      return c >= 0;
    }
  }
}

function compareByOrder(orderBy: readonly Order[], a: StoredDocument, b: StoredDocument): number {
  for (const o of orderBy) {
    const c = compareValues(valueAt(a, o.path) as FsValue, valueAt(b, o.path) as FsValue);
    if (c !== 0) return o.descending ? -c : c;
  }
  return 0;
}

/** Compares a document with a cursor position over the cursor's prefix of the order. */
function compareToBound(orderBy: readonly Order[], doc: StoredDocument, bound: Bound): number {
  for (let i = 0; i < bound.values.length && i < orderBy.length; i++) {
    const o = orderBy[i] as Order;
    let cursorValue = bound.values[i] as FsValue;
    if (isDocumentIdPath(o.path) && cursorValue.kind === 'string') {
      // A plain id in a __name__ cursor is relative to the queried collection.
      cursorValue = { kind: 'reference', value: `${doc.name.slice(0, doc.name.lastIndexOf('/'))}/${cursorValue.value}` };
    }
    const c = compareValues(valueAt(doc, o.path) as FsValue, cursorValue);
    if (c !== 0) return o.descending ? -c : c;
  }
  return 0;
}

/** Whether a document (by resource name) belongs to the query's collection(s). */
export function inScope(query: Query, name: string): boolean {
  const slash = name.lastIndexOf('/');
  const collectionPath = name.slice(0, slash);
  if (!query.allDescendants) return collectionPath === `${query.parent}/${query.collectionId}`;
  if (!name.startsWith(`${query.parent}/`)) return false;
  return collectionPath.slice(collectionPath.lastIndexOf('/') + 1) === query.collectionId;
}

/** Runs the query over candidate documents (a superset of its scope is fine). */
export function runQuery(query: Query, candidates: Iterable<StoredDocument>): StoredDocument[] {
  const orderFields = query.orderBy.filter((o) => !isDocumentIdPath(o.path));
  let docs: StoredDocument[] = [];
  for (const doc of candidates) {
    if (!inScope(query, doc.name)) continue;
    if (query.where && !matches(query.where, doc)) continue;
    // Firestore excludes documents lacking an orderBy field.
    if (orderFields.some((o) => getField(doc.fields, o.path) === undefined)) continue;
    docs.push(doc);
  }
  docs.sort((a, b) => compareByOrder(query.orderBy, a, b));
  const { startAt, endAt } = query;
  if (startAt) {
    docs = docs.filter((d) => {
      const c = compareToBound(query.orderBy, d, startAt);
      return startAt.before ? c >= 0 : c > 0;
    });
  }
  if (endAt) {
    docs = docs.filter((d) => {
      const c = compareToBound(query.orderBy, d, endAt);
      return endAt.before ? c < 0 : c <= 0;
    });
  }
  if (query.offset > 0) docs = docs.slice(query.offset);
  if (query.limit !== null) docs = docs.slice(0, query.limit);
  return docs;
}

/** The projection a query result is returned with. */
export function projectResult(query: Query, doc: StoredDocument): StoredDocument {
  if (!query.select) return doc;
  const paths = query.select.filter((p) => !isDocumentIdPath(p));
  return { ...doc, fields: projectFields(doc.fields, paths) };
}
