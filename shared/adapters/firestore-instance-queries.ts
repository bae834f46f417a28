/**
 * Assignments in Firestore, over the same instances/{name} documents as the instance
 * store (firestore-instance-record.ts): a paged listing and a read-modify-write in one
 * transaction.
 *
 * The listing filters with equality (`pool`, `claim.assignee`, `claim.principal`) and `in`
 * (`state`) and pages by document id (orderBy __name__ + startAfter, the last name of the
 * previous page); equality filters with the implicit __name__ order are served by
 * Firestore's single-field indexes (nested map fields are indexed like top-level ones),
 * https://firebase.google.com/docs/firestore/query-data/index-overview#single-field_indexes
 */
import { FieldPath, type Firestore } from '@google-cloud/firestore';
import type { InstancePage, InstanceQuery } from '../domain/assignment.js';
import type { InstanceRecord } from '../domain/instance.js';
import type { AssignmentStore } from '../ports.js';
import type { FirestoreStoreOptions } from './firestore-client.js';
import { fromSnapshot, toStored } from './firestore-instance-record.js';

export class FirestoreAssignmentStore implements AssignmentStore {
  readonly #db: Firestore;
  readonly #instances: string;

  constructor(db: Firestore, options: FirestoreStoreOptions = {}) {
    this.#db = db;
    this.#instances = `${options.prefix ?? ''}instances`;
  }

  async list(q: InstanceQuery): Promise<InstancePage> {
    let query = this.#db.collection(this.#instances).orderBy(FieldPath.documentId());
    if (q.pool !== undefined) query = query.where('pool', '==', q.pool);
    if (q.states && q.states.length > 0) query = query.where('state', 'in', [...q.states]);
    if (q.assignee !== undefined) query = query.where('claim.assignee', '==', q.assignee);
    if (q.principal !== undefined) query = query.where('claim.principal', '==', q.principal);
    if (q.after !== undefined) query = query.startAfter(q.after);
    const snaps = await query.limit(q.limit + 1).get();
    const records = snaps.docs.slice(0, q.limit).map(fromSnapshot);
    return { records, next: snaps.docs.length > q.limit ? records[records.length - 1]!.name : null };
  }

  modify(name: string, change: (current: InstanceRecord) => InstanceRecord | null) {
    const ref = this.#db.collection(this.#instances).doc(name);
    return this.#db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      if (!snap.exists) return null;
      const before = fromSnapshot(snap);
      const after = change(structuredClone(before));
      if (after) tx.set(ref, toStored(after));
      return { before, after };
    });
  }
}
