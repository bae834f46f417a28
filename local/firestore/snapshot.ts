/**
 * The Firestore emulator's documents as JSON, for the local stack's state that survives a
 * restart (like `firebase emulators:start --import/--export-on-exit`). Values use the
 * Firestore REST names (`stringValue`, `mapValue`, …) so the file reads like what the REST
 * API shows; integers are strings (int64), bytes base64, timestamps integer microseconds,
 * and doubles that JSON cannot hold (NaN, ±Infinity, -0) strings.
 */
import type { StoredDocument } from './query.js';
import type { FsFields, FsValue } from './values.js';

export const FIRESTORE_SNAPSHOT_VERSION = 1;

type JsonValue =
  | { nullValue: null }
  | { booleanValue: boolean }
  | { integerValue: string }
  | { doubleValue: number | string }
  | { timestampValue: number }
  | { stringValue: string }
  | { bytesValue: string }
  | { referenceValue: string }
  | { geoPointValue: { latitude: number; longitude: number } }
  | { arrayValue: { values: JsonValue[] } }
  | { mapValue: { fields: Record<string, JsonValue> } };

export interface FirestoreSnapshot {
  version: typeof FIRESTORE_SNAPSHOT_VERSION;
  documents: Array<{ name: string; createTime: number; updateTime: number; fields: Record<string, JsonValue> }>;
}

export class SnapshotError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotError';
  }
}

function encodeDouble(n: number): number | string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  if (Object.is(n, -0)) return '-0';
  return n;
}

export function encodeValue(v: FsValue): JsonValue {
  switch (v.kind) {
    case 'null':
      return { nullValue: null };
    case 'boolean':
      return { booleanValue: v.value };
    case 'integer':
      return { integerValue: String(v.value) };
    case 'double':
      return { doubleValue: encodeDouble(v.value) };
    case 'timestamp':
      return { timestampValue: v.micros };
    case 'string':
      return { stringValue: v.value };
    case 'bytes':
      return { bytesValue: Buffer.from(v.value).toString('base64') };
    case 'reference':
      return { referenceValue: v.value };
    case 'geo':
      return { geoPointValue: { latitude: v.latitude, longitude: v.longitude } };
    case 'array':
      return { arrayValue: { values: v.values.map(encodeValue) } };
    case 'map':
      return { mapValue: { fields: encodeFields(v.fields) } };
  }
}

export function encodeFields(fields: FsFields): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [k, v] of fields) out[k] = encodeValue(v);
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function fail(path: string, what: string): never {
  throw new SnapshotError(`${path}: ${what}`);
}

function num(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, 'expected a finite number');
  return v;
}

function str(v: unknown, path: string): string {
  if (typeof v !== 'string') fail(path, 'expected a string');
  return v;
}

export function decodeValue(raw: unknown, path: string): FsValue {
  if (!isObject(raw)) fail(path, 'expected a value object');
  const keys = Object.keys(raw);
  if (keys.length !== 1) fail(path, `expected exactly one of nullValue, stringValue, …; got ${keys.join(', ') || 'nothing'}`);
  const key = keys[0]!;
  const v = raw[key];
  switch (key) {
    case 'nullValue':
      return { kind: 'null' };
    case 'booleanValue':
      if (typeof v !== 'boolean') fail(path, 'booleanValue must be true or false');
      return { kind: 'boolean', value: v };
    case 'integerValue': {
      const s = str(v, path);
      if (!/^-?\d+$/.test(s)) fail(path, 'integerValue must be a decimal integer string');
      return { kind: 'integer', value: Number(s) };
    }
    case 'doubleValue': {
      if (typeof v === 'number') return { kind: 'double', value: v };
      const special: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 };
      if (typeof v === 'string' && v in special) return { kind: 'double', value: special[v]! };
      return fail(path, 'doubleValue must be a number, "NaN", "Infinity", "-Infinity" or "-0"');
    }
    case 'timestampValue':
      return { kind: 'timestamp', micros: num(v, path) };
    case 'stringValue':
      return { kind: 'string', value: str(v, path) };
    case 'bytesValue':
      return { kind: 'bytes', value: new Uint8Array(Buffer.from(str(v, path), 'base64')) };
    case 'referenceValue':
      return { kind: 'reference', value: str(v, path) };
    case 'geoPointValue':
      if (!isObject(v)) fail(path, 'geoPointValue must be {latitude, longitude}');
      return { kind: 'geo', latitude: num(v.latitude, `${path}.latitude`), longitude: num(v.longitude, `${path}.longitude`) };
    case 'arrayValue': {
      if (!isObject(v) || !Array.isArray(v.values ?? [])) fail(path, 'arrayValue must be {values: [...]}');
      const values = (v.values ?? []) as unknown[];
      return { kind: 'array', values: values.map((x, i) => decodeValue(x, `${path}[${i}]`)) };
    }
    case 'mapValue':
      if (!isObject(v) || !isObject(v.fields ?? {})) fail(path, 'mapValue must be {fields: {...}}');
      return { kind: 'map', fields: decodeFields(v.fields ?? {}, path) };
    default:
      return fail(path, `unknown value type ${key}`);
  }
}

export function decodeFields(raw: unknown, path: string): FsFields {
  if (!isObject(raw)) fail(path, 'fields must be an object');
  const out = new Map<string, FsValue>();
  for (const [k, v] of Object.entries(raw)) out.set(k, decodeValue(v, `${path}.${k}`));
  return out;
}

export function encodeFirestoreSnapshot(docs: readonly StoredDocument[]): FirestoreSnapshot {
  const sorted = [...docs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    version: FIRESTORE_SNAPSHOT_VERSION,
    documents: sorted.map((d) => ({ name: d.name, createTime: d.createTime, updateTime: d.updateTime, fields: encodeFields(d.fields) })),
  };
}

const DOCUMENT_NAME = /^projects\/[^/]+\/databases\/[^/]+\/documents\/[^/]+\/[^/]+(\/[^/]+\/[^/]+)*$/;

/** Checks every part: a damaged file is an error that says where, never half a state. */
export function decodeFirestoreSnapshot(raw: unknown): StoredDocument[] {
  if (!isObject(raw)) fail('snapshot', 'expected an object');
  if (raw.version !== FIRESTORE_SNAPSHOT_VERSION) fail('snapshot.version', `expected ${FIRESTORE_SNAPSHOT_VERSION}, got ${JSON.stringify(raw.version)}`);
  if (!Array.isArray(raw.documents)) fail('snapshot.documents', 'expected an array');
  const seen = new Set<string>();
  return raw.documents.map((d: unknown, i: number): StoredDocument => {
    const path = `documents[${i}]`;
    if (!isObject(d)) fail(path, 'expected an object');
    const name = str(d.name, `${path}.name`);
    if (!DOCUMENT_NAME.test(name)) fail(`${path}.name`, `not a document name: ${name}`);
    if (seen.has(name)) fail(`${path}.name`, `duplicate document ${name}`);
    seen.add(name);
    return {
      name,
      createTime: num(d.createTime, `${path}.createTime`),
      updateTime: num(d.updateTime, `${path}.updateTime`),
      fields: decodeFields(d.fields, `${path}.fields`),
    };
  });
}
