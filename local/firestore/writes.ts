/**
 * google.firestore.v1.Write, parsed and applied with Firestore's semantics.
 *
 * Fixes FACTS.md: "set() without merge merges instead of replacing" (no update mask
 * replaces the whole document), "FieldValue.delete() does nothing" (a masked path absent
 * from the update deletes the field), "serverTimestamp() and increment() in the same
 * write drop the later transforms" (every transform applies, in order), "arrayUnion on a
 * missing field errors" (a non-array counts as empty), "lastUpdateTime preconditions are
 * ignored" (see checkPrecondition).
 */
import { FirestoreError, Status } from './errors.js';
import type { DocumentTransformFieldTransform, Precondition as PreconditionProto, Write } from './proto.js';
import type { StoredDocument } from './query.js';
import {
  EMPTY_FIELDS,
  NULL,
  fromProtoFields,
  fromProtoValue,
  getField,
  isNumber,
  parseFieldPath,
  setField,
  timestampToMicros,
  valuesEqual,
  type FieldPath,
  type FsFields,
  type FsValue,
  type Micros,
} from './values.js';

export type Precondition = { readonly exists: boolean } | { readonly updateTime: Micros } | null;

export type Transform =
  | { readonly path: FieldPath; readonly op: 'serverTime' }
  | { readonly path: FieldPath; readonly op: 'increment' | 'maximum' | 'minimum'; readonly operand: FsValue }
  | { readonly path: FieldPath; readonly op: 'arrayUnion' | 'arrayRemove'; readonly elements: readonly FsValue[] };

export type ParsedWrite =
  | {
      readonly kind: 'update';
      readonly name: string;
      readonly fields: FsFields;
      /** null = replace the whole document (set without merge). */
      readonly mask: readonly FieldPath[] | null;
      readonly transforms: readonly Transform[];
      readonly precondition: Precondition;
    }
  | { readonly kind: 'transform'; readonly name: string; readonly transforms: readonly Transform[]; readonly precondition: Precondition }
  | { readonly kind: 'delete'; readonly name: string; readonly precondition: Precondition };

const invalid = (message: string): FirestoreError => new FirestoreError(Status.INVALID_ARGUMENT, message);

export function parsePrecondition(has: boolean, p: PreconditionProto): Precondition {
  if (!has) return null;
  if (p.has_update_time) return { updateTime: timestampToMicros(p.update_time) };
  if (p.has_exists) return { exists: p.exists };
  return null;
}

function parseTransform(t: DocumentTransformFieldTransform): Transform {
  const path = parseFieldPath(t.field_path);
  switch (t.transform_type) {
    case 'set_to_server_value':
      if (t.set_to_server_value !== 1) throw invalid('Unknown server value.');
      return { path, op: 'serverTime' };
    case 'increment':
    case 'maximum':
    case 'minimum': {
      const operand = fromProtoValue(t.transform_type === 'increment' ? t.increment : t.transform_type === 'maximum' ? t.maximum : t.minimum);
      if (!isNumber(operand)) throw invalid(`${t.transform_type} requires a numeric operand.`);
      return { path, op: t.transform_type, operand };
    }
    case 'append_missing_elements':
      return { path, op: 'arrayUnion', elements: t.append_missing_elements.values.map(fromProtoValue) };
    case 'remove_all_from_array':
      return { path, op: 'arrayRemove', elements: t.remove_all_from_array.values.map(fromProtoValue) };
    default:
      throw invalid('A field transform must set a transform type.');
  }
}

export function parseWrite(w: Write): ParsedWrite {
  const precondition = parsePrecondition(w.has_current_document, w.current_document);
  switch (w.operation) {
    case 'update': {
      if (!w.update.name) throw invalid('A write must name its document.');
      return {
        kind: 'update',
        name: w.update.name,
        fields: fromProtoFields(w.update.fields),
        mask: w.has_update_mask ? w.update_mask.field_paths.map(parseFieldPath) : null,
        transforms: w.update_transforms.map(parseTransform),
        precondition,
      };
    }
    case 'delete':
      return { kind: 'delete', name: w.delete, precondition };
    case 'transform':
      return {
        kind: 'transform',
        name: w.transform.document,
        transforms: w.transform.field_transforms.map(parseTransform),
        precondition,
      };
    default:
      throw invalid('A write must have an operation.');
  }
}

/** ALREADY_EXISTS / NOT_FOUND / FAILED_PRECONDITION, with Firestore's messages. */
export function checkPrecondition(write: ParsedWrite, current: StoredDocument | null): void {
  const p = write.precondition;
  if (!p) return;
  if ('exists' in p) {
    if (p.exists && !current) throw new FirestoreError(Status.NOT_FOUND, `No document to update: ${write.name}`);
    if (!p.exists && current) throw new FirestoreError(Status.ALREADY_EXISTS, `Document already exists: ${write.name}`);
    return;
  }
  if (!current) throw new FirestoreError(Status.NOT_FOUND, `No document to update: ${write.name}`);
  if (current.updateTime !== p.updateTime) {
    throw new FirestoreError(
      Status.FAILED_PRECONDITION,
      `the stored version (${current.updateTime}) does not match the required base version (${p.updateTime})`,
    );
  }
}

function addNumbers(a: Extract<FsValue, { kind: 'integer' | 'double' }>, b: Extract<FsValue, { kind: 'integer' | 'double' }>): FsValue {
  if (a.kind === 'integer' && b.kind === 'integer') {
    // int64 arithmetic saturates in Firestore.
    const sum = a.value + b.value;
    return { kind: 'integer', value: Math.max(Math.min(sum, Number.MAX_SAFE_INTEGER), Number.MIN_SAFE_INTEGER) };
  }
  return { kind: 'double', value: a.value + b.value };
}

/** Applies one transform; returns the new fields and the transform result. */
export function applyTransform(fields: FsFields, t: Transform, commitTime: Micros): [FsFields, FsValue] {
  const current = getField(fields, t.path);
  let next: FsValue;
  let result: FsValue;
  switch (t.op) {
    case 'serverTime':
      next = result = { kind: 'timestamp', micros: commitTime };
      break;
    case 'increment':
      next = result = isNumber(current) ? addNumbers(current, t.operand as never) : t.operand;
      break;
    case 'maximum':
    case 'minimum': {
      if (!isNumber(current)) {
        next = t.operand;
      } else {
        const o = t.operand as Extract<FsValue, { kind: 'integer' | 'double' }>;
        const pickOperand = t.op === 'maximum' ? o.value > current.value : o.value < current.value;
        next = Number.isNaN(o.value) || pickOperand ? o : current;
      }
      result = next;
      break;
    }
    case 'arrayUnion': {
      const values = current?.kind === 'array' ? [...current.values] : [];
      for (const e of t.elements) if (!values.some((v) => valuesEqual(v, e))) values.push(e);
      next = { kind: 'array', values };
      result = NULL;
      break;
    }
    case 'arrayRemove': {
      const values = current?.kind === 'array' ? current.values : [];
      next = { kind: 'array', values: values.filter((v) => !t.elements.some((e) => valuesEqual(v, e))) };
      result = NULL;
      break;
    }
  }
  return [setField(fields, t.path, next), result];
}

/** The document's fields after the write (before transforms for 'update'). */
export function baseFields(write: Exclude<ParsedWrite, { kind: 'delete' }>, current: StoredDocument | null): FsFields {
  const existing = current?.fields ?? EMPTY_FIELDS;
  if (write.kind === 'transform') return existing;
  if (write.mask === null) return write.fields;
  let fields = existing;
  for (const path of write.mask) fields = setField(fields, path, getField(write.fields, path));
  return fields;
}
