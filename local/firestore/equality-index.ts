/**
 * Single-field equality indexes of the emulator's collections, so that a query with an
 * equality filter looks only at the documents holding that value instead of scanning
 * its whole collection (Firestore answers every query from an index, in time that grows
 * with the results, not with the collection: a scan here made each claim's candidate
 * query cost grow with every machine ever recorded).
 *
 * A field is indexed the first time a query filters on it by equality (built by one scan
 * of its collection, as Firestore's automatic single-field indexes exist from the start),
 * then kept up to date on every write. Only string and boolean values are indexed: for
 * them Firestore's query equality is plain identity (numbers are not: 1 == 1.0). A query
 * the index cannot serve is answered by a scan, as before; the index only narrows the
 * candidates, and query.ts still applies every filter and the order to them.
 */
import type { Filter, Query, StoredDocument } from './query.js';
import { getField, isDocumentIdPath, type FieldPath, type FsValue } from './values.js';

/** The index key of a value, or null for a value this index does not hold. */
function keyOf(value: FsValue | undefined): string | null {
  if (value?.kind === 'string') return `s${value.value}`;
  if (value?.kind === 'boolean') return value.value ? 'b1' : 'b0';
  return null;
}

interface FieldIndex {
  readonly path: FieldPath;
  /** Value key → names of the collection's documents holding it. */
  readonly names: Map<string, Set<string>>;
}

/** The equality filters on one field that a query's documents must all pass (top-level AND only). */
function equalityFilters(where: Filter | null): { pathKey: string; path: FieldPath; key: string }[] {
  if (!where) return [];
  const filters = where.type === 'composite' ? (where.op === 'AND' ? where.filters : []) : [where];
  const out: { pathKey: string; path: FieldPath; key: string }[] = [];
  for (const f of filters) {
    if (f.type !== 'field' || f.op !== 'EQUAL' || isDocumentIdPath(f.path)) continue;
    const key = keyOf(f.value);
    if (key !== null) out.push({ pathKey: f.pathKey, path: f.path, key });
  }
  return out;
}

export class EqualityIndex {
  /** Collection path → field path key → index. */
  readonly #collections = new Map<string, Map<string, FieldIndex>>();

  clear(): void {
    this.#collections.clear();
  }

  /** Keeps the collection's indexes in step with a write of `name` (null: absent). */
  update(collectionPath: string, name: string, before: StoredDocument | null, after: StoredDocument | null): void {
    const fields = this.#collections.get(collectionPath);
    if (!fields) return;
    for (const index of fields.values()) {
      const was = before ? keyOf(getField(before.fields, index.path)) : null;
      const now = after ? keyOf(getField(after.fields, index.path)) : null;
      if (was === now) continue;
      if (was !== null) {
        const set = index.names.get(was);
        set?.delete(name);
        if (set?.size === 0) index.names.delete(was);
      }
      if (now !== null) {
        let set = index.names.get(now);
        if (!set) index.names.set(now, (set = new Set()));
        set.add(name);
      }
    }
  }

  /**
   * The documents of a single-collection query's collection that can match it: those
   * holding the values of all its indexable equality filters (the smallest index entry,
   * kept where every other one holds it too, as a composite index over those fields would
   * narrow it: the candidate query has one, firestore.indexes.json), or all of them when
   * it has none.
   */
  candidates(query: Query, docs: ReadonlyMap<string, StoredDocument>, collectionPath: string): Iterable<StoredDocument> {
    const equalities = equalityFilters(query.where);
    if (equalities.length === 0) return docs.values();
    let fields = this.#collections.get(collectionPath);
    if (!fields) this.#collections.set(collectionPath, (fields = new Map()));
    const sets: ReadonlySet<string>[] = [];
    for (const { pathKey, path, key } of equalities) {
      let index = fields.get(pathKey);
      if (!index) fields.set(pathKey, (index = build(path, docs)));
      sets.push(index.names.get(key) ?? new Set<string>());
    }
    sets.sort((a, b) => a.size - b.size);
    const [smallest, ...others] = sets;
    const out: StoredDocument[] = [];
    for (const name of smallest!) {
      if (!others.every((s) => s.has(name))) continue;
      const doc = docs.get(name);
      if (doc) out.push(doc);
    }
    return out;
  }
}

function build(path: FieldPath, docs: ReadonlyMap<string, StoredDocument>): FieldIndex {
  const index: FieldIndex = { path, names: new Map() };
  for (const doc of docs.values()) {
    const key = keyOf(getField(doc.fields, path));
    if (key === null) continue;
    let set = index.names.get(key);
    if (!set) index.names.set(key, (set = new Set()));
    set.add(doc.name);
  }
  return index;
}
