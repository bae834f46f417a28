/**
 * History events in Firestore.
 *
 *   events/{auto id}   { type, pool, at, instance?, durationMs?, reason?, count?, expireAt }
 *
 * Append-only documents with automatic ids (no hot document); `expireAt` is the TTL field
 * (HISTORY_RETENTION_MS after `at`). Queries use top-level fields only: `at >=` for every
 * pool (single-field index), `pool ==` and `at >=` for one pool (composite index
 * pool ASC, at ASC).
 */
import { Timestamp, type DocumentSnapshot, type Firestore } from '@google-cloud/firestore';
import { HISTORY_RETENTION_MS, type HistoryEvent, type HistoryEventType, type HistoryStore } from '../history.js';

const TYPES: readonly HistoryEventType[] = ['claim_miss', 'ready', 'teardown'];

export interface FirestoreHistoryOptions {
  /** Collection name prefix, so tests can share one emulator. */
  prefix?: string;
}

function fromSnapshot(snap: DocumentSnapshot): HistoryEvent | null {
  const d = snap.data() as Record<string, unknown> | undefined;
  if (!d || !TYPES.includes(d.type as HistoryEventType) || typeof d.pool !== 'string' || typeof d.at !== 'number') return null;
  const e: HistoryEvent = { type: d.type as HistoryEventType, pool: d.pool, at: d.at };
  if (typeof d.instance === 'string') e.instance = d.instance;
  if (typeof d.durationMs === 'number') e.durationMs = d.durationMs;
  if (typeof d.reason === 'string') e.reason = d.reason;
  if (typeof d.count === 'number') e.count = d.count;
  return e;
}

export class FirestoreHistoryStore implements HistoryStore {
  readonly #db: Firestore;
  readonly #collection: string;

  constructor(db: Firestore, options: FirestoreHistoryOptions = {}) {
    this.#db = db;
    this.#collection = `${options.prefix ?? ''}events`;
  }

  async record(e: HistoryEvent): Promise<void> {
    const doc: Record<string, unknown> = { type: e.type, pool: e.pool, at: e.at, expireAt: Timestamp.fromMillis(e.at + HISTORY_RETENTION_MS) };
    // The client refuses undefined values: write only the fields the event has.
    if (e.instance !== undefined) doc.instance = e.instance;
    if (e.durationMs !== undefined) doc.durationMs = e.durationMs;
    if (e.reason !== undefined) doc.reason = e.reason;
    if (e.count !== undefined) doc.count = e.count;
    await this.#db.collection(this.#collection).add(doc);
  }

  async since(pool: string | null, since: number): Promise<HistoryEvent[]> {
    let q = this.#db.collection(this.#collection).where('at', '>=', since);
    if (pool !== null) q = q.where('pool', '==', pool);
    const snaps = await q.orderBy('at').get();
    return snaps.docs.flatMap((s) => {
      const e = fromSnapshot(s);
      return e ? [e] : [];
    });
  }
}
