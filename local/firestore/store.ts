/**
 * The emulator's storage and transactions, replacing `@firestore-emulator/server`'s
 * FirestoreState entirely: a map of resource name → {fields, createTime, updateTime}.
 *
 * Read-write transactions use optimistic concurrency (FACTS.md: "transactions are not
 * isolated ... commit checks nothing, never aborts"). Each transaction remembers the
 * update time of every document it read (0 for a missing one) and every query it ran
 * with its result; at Commit, if any of those documents changed, appeared or vanished,
 * or any query would now return something else, the commit fails with ABORTED and
 * writes nothing, and the client retries. Everything here is synchronous, so each
 * Commit is validated and applied atomically and commits are serialized by the event
 * loop. Firestore itself uses pessimistic locks; the observable guarantee (serializable
 * read-write transactions, retried by the client on ABORTED) is the same, though under
 * contention this aborts more and waits less. Queries with an equality filter read only
 * the documents an index (equality-index.ts) says hold the value, not the whole collection.
 */
import { randomBytes } from 'node:crypto';
import { FirestoreError, Status } from './errors.js';
import { EqualityIndex } from './equality-index.js';
import { runQuery, type Query, type StoredDocument } from './query.js';
import { zeroStats, type StoreStats } from './stats.js';
import { fieldsIdentical, type Micros } from './values.js';
import { applyTransform, baseFields, checkPrecondition, type ParsedWrite } from './writes.js';

/** Firestore expires a transaction 270 s after it began or 60 s after its last use. */
const TRANSACTION_LIFETIME_MS = 270_000;
const TRANSACTION_IDLE_MS = 60_000;

interface Transaction {
  readonly readOnly: boolean;
  readonly startedAt: number;
  lastUsedAt: number;
  /** Resource name → update time when first read (0 = missing). */
  readonly reads: Map<string, Micros>;
  readonly queries: { query: Query; signature: string }[];
}

/** How a read is done: outside any transaction, in an existing one, or starting one. */
export type ReadConsistency =
  | { readonly kind: 'none' }
  | { readonly kind: 'transaction'; readonly id: Uint8Array }
  | { readonly kind: 'new'; readonly readOnly: boolean; readonly retryOf: Uint8Array | null };

export interface ReadResult<T> {
  readonly result: T;
  readonly readTime: Micros;
  /** Set when the read started a transaction. */
  readonly newTransaction: Uint8Array | null;
}

export interface WriteOutcome {
  /** Absent after a delete (as in Firestore). */
  readonly updateTime: Micros | null;
  readonly transformResults: readonly import('./values.js').FsValue[];
}

const txKey = (id: Uint8Array): string => Buffer.from(id).toString('base64');
const versionOf = (doc: StoredDocument | null | undefined): Micros => doc?.updateTime ?? 0;
const signatureOf = (docs: readonly StoredDocument[]): string => docs.map((d) => `${d.name}@${d.updateTime}`).join('\n');
const nowMicros = (): Micros => Math.floor((performance.timeOrigin + performance.now()) * 1000);

const expired = (): FirestoreError => new FirestoreError(Status.INVALID_ARGUMENT, 'The referenced transaction has expired or is no longer valid.');
const contention = (): FirestoreError =>
  new FirestoreError(
    Status.ABORTED,
    'Aborted due to cross-transaction contention. This occurs when multiple transactions attempt to access the same data, requiring Firestore to abort at least one in order to enforce serializability.',
  );

export class DocumentStore {
  #stats: StoreStats = zeroStats();
  /** Collection path → (document name → document). */
  #collections = new Map<string, Map<string, StoredDocument>>();
  #index = new EqualityIndex();
  #transactions = new Map<string, Transaction>();
  #lastCommit: Micros = 0;
  #changes = 0;

  /** A copy of the counters. */
  get stats(): StoreStats {
    return { ...this.#stats };
  }

  resetStats(): void {
    this.#stats = zeroStats();
  }

  reset(): void {
    this.#collections.clear();
    this.#index.clear();
    this.#transactions.clear();
    this.#changes++;
  }

  /** Grows with every commit or import: a snapshot is due when it moved. */
  get changes(): number {
    return this.#changes;
  }

  /** Every document (see snapshot.ts for the file format). */
  exportDocuments(): StoredDocument[] {
    return [...this.#allDocuments()];
  }

  /** Replaces every document with these (open transactions are dropped). */
  importDocuments(docs: readonly StoredDocument[]): void {
    this.reset();
    for (const doc of docs) {
      this.#put(doc.name, doc);
      this.#lastCommit = Math.max(this.#lastCommit, doc.updateTime);
    }
  }

  // ───────────────────────────── storage ─────────────────────────────

  get(name: string): StoredDocument | null {
    return this.#collections.get(name.slice(0, name.lastIndexOf('/')))?.get(name) ?? null;
  }

  #put(name: string, doc: StoredDocument | null): void {
    const collectionPath = name.slice(0, name.lastIndexOf('/'));
    let docs = this.#collections.get(collectionPath);
    this.#index.update(collectionPath, name, docs?.get(name) ?? null, doc);
    if (doc) {
      if (!docs) this.#collections.set(collectionPath, (docs = new Map()));
      docs.set(name, doc);
    } else if (docs) {
      docs.delete(name);
      if (docs.size === 0) this.#collections.delete(collectionPath);
    }
  }

  *#allDocuments(): Generator<StoredDocument> {
    for (const docs of this.#collections.values()) yield* docs.values();
  }

  #candidates(query: Query): Iterable<StoredDocument> {
    if (query.allDescendants) return this.#allDocuments();
    const path = `${query.parent}/${query.collectionId}`;
    const docs = this.#collections.get(path);
    return docs ? this.#index.candidates(query, docs, path) : [];
  }

  #scan(query: Query): StoredDocument[] {
    const candidates = [...this.#candidates(query)];
    this.#stats.queryDocsScanned += candidates.length;
    return runQuery(query, candidates);
  }

  #readTime(): Micros {
    return Math.max(nowMicros(), this.#lastCommit);
  }

  // ───────────────────────────── transactions ─────────────────────────────

  beginTransaction(readOnly: boolean, retryOf: Uint8Array | null): Uint8Array {
    const now = Date.now();
    for (const [key, tx] of this.#transactions) {
      if (now - tx.startedAt > TRANSACTION_LIFETIME_MS || now - tx.lastUsedAt > TRANSACTION_IDLE_MS) {
        this.#transactions.delete(key);
      }
    }
    if (retryOf) this.#transactions.delete(txKey(retryOf));
    this.#stats.transactions++;
    const id = randomBytes(16);
    this.#transactions.set(txKey(id), { readOnly, startedAt: now, lastUsedAt: now, reads: new Map(), queries: [] });
    return id;
  }

  rollback(id: Uint8Array): void {
    this.#stats.rollbacks++;
    if (!this.#transactions.delete(txKey(id))) throw expired();
  }

  #transaction(id: Uint8Array): Transaction {
    const tx = this.#transactions.get(txKey(id));
    const now = Date.now();
    if (!tx || now - tx.startedAt > TRANSACTION_LIFETIME_MS || now - tx.lastUsedAt > TRANSACTION_IDLE_MS) {
      this.#transactions.delete(txKey(id));
      throw expired();
    }
    tx.lastUsedAt = now;
    return tx;
  }

  #resolve(consistency: ReadConsistency): { tx: Transaction | null; newTransaction: Uint8Array | null } {
    switch (consistency.kind) {
      case 'none':
        return { tx: null, newTransaction: null };
      case 'transaction':
        return { tx: this.#transaction(consistency.id), newTransaction: null };
      case 'new': {
        const id = this.beginTransaction(consistency.readOnly, consistency.retryOf);
        return { tx: this.#transaction(id), newTransaction: id };
      }
    }
  }

  // ───────────────────────────── reads ─────────────────────────────

  getDocuments(names: readonly string[], consistency: ReadConsistency): ReadResult<(StoredDocument | null)[]> {
    const { tx, newTransaction } = this.#resolve(consistency);
    this.#stats.docsRead += names.length;
    const result = names.map((name) => {
      const doc = this.get(name);
      if (tx && !tx.readOnly && !tx.reads.has(name)) tx.reads.set(name, versionOf(doc));
      return doc;
    });
    return { result, readTime: this.#readTime(), newTransaction };
  }

  /** Runs a query; the documents are the full stored ones (project them for the answer). */
  runQuery(query: Query, consistency: ReadConsistency): ReadResult<StoredDocument[]> {
    const { tx, newTransaction } = this.#resolve(consistency);
    const docs = this.#scan(query);
    this.#stats.queries++;
    this.#stats.queryDocsReturned += docs.length;
    if (tx && !tx.readOnly) {
      tx.queries.push({ query, signature: signatureOf(docs) });
      for (const doc of docs) if (!tx.reads.has(doc.name)) tx.reads.set(doc.name, doc.updateTime);
    }
    return { result: docs, readTime: this.#readTime(), newTransaction };
  }

  /** Documents of a collection in name order; `showMissing` adds names that only have subcollections. */
  listDocuments(collectionPath: string, showMissing: boolean): (StoredDocument | { name: string; missing: true })[] {
    const docs: (StoredDocument | { name: string; missing: true })[] = [...(this.#collections.get(collectionPath)?.values() ?? [])];
    if (showMissing) {
      const present = new Set(docs.map((d) => d.name));
      const prefix = `${collectionPath}/`;
      for (const path of this.#collections.keys()) {
        if (!path.startsWith(prefix)) continue;
        const name = prefix + path.slice(prefix.length).split('/')[0];
        if (!present.has(name)) {
          present.add(name);
          docs.push({ name, missing: true });
        }
      }
    }
    return docs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Ids of the collections directly under a document (or the database root). */
  listCollectionIds(parent: string): string[] {
    const prefix = `${parent}/`;
    const ids = new Set<string>();
    for (const path of this.#collections.keys()) {
      if (path.startsWith(prefix)) ids.add(path.slice(prefix.length).split('/')[0] as string);
    }
    return [...ids].sort();
  }

  // ───────────────────────────── commit ─────────────────────────────

  #validate(tx: Transaction): void {
    for (const [name, version] of tx.reads) {
      if (versionOf(this.get(name)) !== version) throw contention();
    }
    for (const { query, signature } of tx.queries) {
      if (signatureOf(this.#scan(query)) !== signature) throw contention();
    }
  }

  /**
   * Applies the writes atomically: preconditions are checked against the state left by
   * the earlier writes of the same commit, and any failure writes nothing.
   */
  commit(writes: readonly ParsedWrite[], transactionId: Uint8Array | null): { commitTime: Micros; results: WriteOutcome[] } {
    this.#stats.commits++;
    if (transactionId) {
      this.#stats.transactionCommits++;
      const tx = this.#transaction(transactionId);
      this.#transactions.delete(txKey(transactionId));
      if (tx.readOnly && writes.length > 0) {
        throw new FirestoreError(Status.INVALID_ARGUMENT, 'Cannot modify entities in a read-only transaction.');
      }
      try {
        this.#validate(tx);
      } catch (err) {
        this.#stats.aborts++;
        throw err;
      }
    }
    const commitTime = Math.max(nowMicros(), this.#lastCommit + 1);
    const overlay = new Map<string, StoredDocument | null>();
    const current = (name: string): StoredDocument | null => (overlay.has(name) ? (overlay.get(name) ?? null) : this.get(name));

    const results = writes.map((write): WriteOutcome => {
      const before = current(write.name);
      checkPrecondition(write, before);
      if (write.kind === 'delete') {
        overlay.set(write.name, null);
        return { updateTime: null, transformResults: [] };
      }
      let fields = baseFields(write, before);
      const transformResults = write.transforms.map((t) => {
        const [next, result] = applyTransform(fields, t, commitTime);
        fields = next;
        return result;
      });
      // A write that changes nothing keeps the document's update time (as Firestore does).
      const doc =
        before && fieldsIdentical(before.fields, fields)
          ? before
          : { name: write.name, fields, createTime: before?.createTime ?? commitTime, updateTime: commitTime };
      overlay.set(write.name, doc);
      return { updateTime: doc.updateTime, transformResults };
    });

    for (const [name, doc] of overlay) this.#put(name, doc);
    this.#lastCommit = commitTime;
    if (overlay.size > 0) this.#changes++;
    return { commitTime, results };
  }
}
