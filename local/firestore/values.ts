/**
 * Firestore values as plain immutable data, with Firestore's ordering and equality,
 * field paths, and conversion to and from the generated proto messages.
 */
import { ArrayValue, LatLng, MapValue, Timestamp, Value } from './proto.js';

export type FsValue =
  | { readonly kind: 'null' }
  | { readonly kind: 'boolean'; readonly value: boolean }
  /** int64 as a JS number: exact up to 2^53 (google-protobuf reads int64 as number). */
  | { readonly kind: 'integer'; readonly value: number }
  | { readonly kind: 'double'; readonly value: number }
  | { readonly kind: 'timestamp'; readonly micros: number }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'bytes'; readonly value: Uint8Array }
  | { readonly kind: 'reference'; readonly value: string }
  | { readonly kind: 'geo'; readonly latitude: number; readonly longitude: number }
  | { readonly kind: 'array'; readonly values: readonly FsValue[] }
  | { readonly kind: 'map'; readonly fields: FsFields };

export type FsFields = ReadonlyMap<string, FsValue>;

export const NULL: FsValue = { kind: 'null' };
export const EMPTY_FIELDS: FsFields = new Map();

// ───────────────────────────── timestamps ─────────────────────────────

/**
 * Time is kept as integer microseconds since the epoch (Firestore's precision); that
 * stays exact in a double until the year 2255.
 */
export type Micros = number;

export function timestampToMicros(ts: Timestamp): Micros {
  return Number(ts.seconds) * 1_000_000 + Math.floor(Number(ts.nanos) / 1000);
}

export function microsToTimestamp(micros: Micros): Timestamp {
  const seconds = Math.floor(micros / 1_000_000);
  return new Timestamp({ seconds, nanos: (micros - seconds * 1_000_000) * 1000 });
}

// ───────────────────────────── proto conversion ─────────────────────────────

export function fromProtoValue(v: Value): FsValue {
  switch (v.value_type) {
    case 'boolean_value':
      return { kind: 'boolean', value: v.boolean_value };
    case 'integer_value':
      return { kind: 'integer', value: Number(v.integer_value) };
    case 'double_value':
      return { kind: 'double', value: v.double_value };
    case 'timestamp_value':
      return { kind: 'timestamp', micros: timestampToMicros(v.timestamp_value) };
    case 'string_value':
      return { kind: 'string', value: v.string_value };
    case 'bytes_value':
      return { kind: 'bytes', value: v.bytes_value };
    case 'reference_value':
      return { kind: 'reference', value: v.reference_value };
    case 'geo_point_value':
      return { kind: 'geo', latitude: v.geo_point_value.latitude, longitude: v.geo_point_value.longitude };
    case 'array_value':
      return { kind: 'array', values: v.array_value.values.map(fromProtoValue) };
    case 'map_value':
      return { kind: 'map', fields: fromProtoFields(v.map_value.fields) };
    case 'null_value':
    case 'none':
    default:
      return NULL;
  }
}

export function fromProtoFields(fields: Map<string, Value>): FsFields {
  const out = new Map<string, FsValue>();
  for (const [key, value] of fields) out.set(key, fromProtoValue(value));
  return out;
}

export function toProtoValue(v: FsValue): Value {
  const out = new Value();
  switch (v.kind) {
    case 'null':
      out.null_value = 0;
      break;
    case 'boolean':
      out.boolean_value = v.value;
      break;
    case 'integer':
      out.integer_value = v.value;
      break;
    case 'double':
      out.double_value = v.value;
      break;
    case 'timestamp':
      out.timestamp_value = microsToTimestamp(v.micros);
      break;
    case 'string':
      out.string_value = v.value;
      break;
    case 'bytes':
      out.bytes_value = v.value;
      break;
    case 'reference':
      out.reference_value = v.value;
      break;
    case 'geo':
      out.geo_point_value = new LatLng({ latitude: v.latitude, longitude: v.longitude });
      break;
    case 'array':
      out.array_value = new ArrayValue({ values: v.values.map(toProtoValue) });
      break;
    case 'map':
      out.map_value = new MapValue({ fields: toProtoFields(v.fields) });
      break;
  }
  return out;
}

export function toProtoFields(fields: FsFields): Map<string, Value> {
  const out = new Map<string, Value>();
  for (const [key, value] of fields) out.set(key, toProtoValue(value));
  return out;
}

// ───────────────────────────── ordering and equality ─────────────────────────────

function typeOrder(v: FsValue): number {
  switch (v.kind) {
    case 'null':
      return 0;
    case 'boolean':
      return 1;
    case 'integer':
    case 'double':
      return 2;
    case 'timestamp':
      return 3;
    case 'string':
      return 4;
    case 'bytes':
      return 5;
    case 'reference':
      return 6;
    case 'geo':
      return 7;
    case 'array':
      return 8;
    case 'map':
      return 10;
  }
}

/** Whether two values are in the same ordering class (all numbers are one class). */
export function sameTypeClass(a: FsValue, b: FsValue): boolean {
  return typeOrder(a) === typeOrder(b);
}

const sign = (n: number): number => (n < 0 ? -1 : n > 0 ? 1 : 0);

function compareNumbers(a: number, b: number): number {
  // NaN sorts before every other number and equals itself; -0 equals 0.
  if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : -1;
  if (Number.isNaN(b)) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Strings order by their UTF-8 bytes, i.e. by code point (not UTF-16 unit). */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const ca = ia.next();
    const cb = ib.next();
    if (ca.done) return cb.done ? 0 : -1;
    if (cb.done) return 1;
    const d = (ca.value.codePointAt(0) ?? 0) - (cb.value.codePointAt(0) ?? 0);
    if (d !== 0) return sign(d);
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return sign(Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)));
}

/** Resource names compare segment by segment. */
export function compareReferences(a: string, b: string): number {
  if (a === b) return 0;
  const sa = a.split('/');
  const sb = b.split('/');
  const n = Math.min(sa.length, sb.length);
  for (let i = 0; i < n; i++) {
    const c = compareStrings(sa[i] ?? '', sb[i] ?? '');
    if (c !== 0) return c;
  }
  return sign(sa.length - sb.length);
}

/** Firestore's total order over values (the order `orderBy` and range filters use). */
export function compareValues(a: FsValue, b: FsValue): number {
  const ta = typeOrder(a);
  const tb = typeOrder(b);
  if (ta !== tb) return sign(ta - tb);
  switch (a.kind) {
    case 'null':
      return 0;
    case 'boolean':
      return sign(Number(a.value) - Number((b as typeof a).value));
    case 'integer':
    case 'double':
      return compareNumbers(a.value, (b as { value: number }).value);
    case 'timestamp':
      return sign(a.micros - (b as typeof a).micros);
    case 'string':
      return compareStrings(a.value, (b as typeof a).value);
    case 'bytes':
      return compareBytes(a.value, (b as typeof a).value);
    case 'reference':
      return compareReferences(a.value, (b as typeof a).value);
    case 'geo': {
      const g = b as typeof a;
      return compareNumbers(a.latitude, g.latitude) || compareNumbers(a.longitude, g.longitude);
    }
    case 'array': {
      const other = (b as typeof a).values;
      const n = Math.min(a.values.length, other.length);
      for (let i = 0; i < n; i++) {
        const c = compareValues(a.values[i] as FsValue, other[i] as FsValue);
        if (c !== 0) return c;
      }
      return sign(a.values.length - other.length);
    }
    case 'map': {
      const ka = [...a.fields.keys()].sort(compareStrings);
      const other = (b as typeof a).fields;
      const kb = [...other.keys()].sort(compareStrings);
      const n = Math.min(ka.length, kb.length);
      for (let i = 0; i < n; i++) {
        const c =
          compareStrings(ka[i] as string, kb[i] as string) || compareValues(a.fields.get(ka[i] as string) as FsValue, other.get(kb[i] as string) as FsValue);
        if (c !== 0) return c;
      }
      return sign(ka.length - kb.length);
    }
  }
}

/** Query equality: numbers compare by value (1 == 1.0), everything else structurally. */
export function valuesEqual(a: FsValue, b: FsValue): boolean {
  return compareValues(a, b) === 0;
}

/**
 * Stored-value identity, used to decide whether a write changed a document (then its
 * update time stays as it was, as Firestore does): types must match exactly.
 */
export function identical(a: FsValue, b: FsValue): boolean {
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case 'integer':
    case 'double':
      return Object.is(a.value, (b as typeof a).value);
    case 'array': {
      const other = (b as typeof a).values;
      return a.values.length === other.length && a.values.every((v, i) => identical(v, other[i] as FsValue));
    }
    case 'map':
      return fieldsIdentical(a.fields, (b as typeof a).fields);
    default:
      return compareValues(a, b) === 0;
  }
}

export function fieldsIdentical(a: FsFields, b: FsFields): boolean {
  if (a.size !== b.size) return false;
  for (const [key, value] of a) {
    const other = b.get(key);
    if (other === undefined || !identical(value, other)) return false;
  }
  return true;
}

// ───────────────────────────── field paths ─────────────────────────────

export type FieldPath = readonly string[];

/** Parses `a.b`, `` a.`b.c` `` and backslash escapes inside backticks. */
export function parseFieldPath(path: string): FieldPath {
  const segments: string[] = [];
  let i = 0;
  while (i < path.length) {
    let segment = '';
    if (path[i] === '`') {
      i++;
      while (i < path.length && path[i] !== '`') {
        if (path[i] === '\\') i++;
        segment += path[i] ?? '';
        i++;
      }
      i++; // closing backtick
    } else {
      while (i < path.length && path[i] !== '.') segment += path[i++];
    }
    segments.push(segment);
    if (path[i] === '.') i++;
  }
  return segments;
}

export const isDocumentIdPath = (path: FieldPath): boolean => path.length === 1 && path[0] === '__name__';

export function getField(fields: FsFields, path: FieldPath): FsValue | undefined {
  let current: FsValue | undefined = { kind: 'map', fields };
  for (const segment of path) {
    if (current?.kind !== 'map') return undefined;
    current = current.fields.get(segment);
  }
  return current;
}

/** Copy-on-write set (or delete, when `value` is undefined) of a nested field. */
export function setField(fields: FsFields, path: FieldPath, value: FsValue | undefined): FsFields {
  const [head, ...rest] = path;
  if (head === undefined) return fields;
  const out = new Map(fields);
  if (rest.length === 0) {
    if (value === undefined) out.delete(head);
    else out.set(head, value);
    return out;
  }
  const child = fields.get(head);
  if (value === undefined && child?.kind !== 'map') return fields;
  out.set(head, { kind: 'map', fields: setField(child?.kind === 'map' ? child.fields : EMPTY_FIELDS, rest, value) });
  return out;
}

/** Keeps only the given field paths (a read mask or a query projection). */
export function projectFields(fields: FsFields, paths: readonly FieldPath[]): FsFields {
  let out: FsFields = EMPTY_FIELDS;
  for (const path of paths) {
    const value = getField(fields, path);
    if (value !== undefined) out = setField(out, path, value);
  }
  return out;
}

export const isNumber = (v: FsValue | undefined): v is Extract<FsValue, { kind: 'integer' | 'double' }> => v?.kind === 'integer' || v?.kind === 'double';
