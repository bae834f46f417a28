/**
 * Demand sizing's state in Firestore.
 *
 *   poolSizing/{pool}   { history (JSON text), foldedThrough, decision, updatedAt }
 *
 * One small document per pool (a few KB), written once per reconcile pass in a transaction
 * that first checks the pass's fence on poolRuntime/{pool}: a pass that lost its lease
 * cannot overwrite the history (so no claim is folded twice or lost). The history is one
 * JSON string so its ~700 numbers cost no index entries (a string is indexed by its first
 * 1,500 bytes only).
 *
 * Served claims are read from the claims' receipts (claims/{receipt}: pool, createdAt,
 * instances — the layout the instance store writes), one pool at a time
 * (composite index pool ASC, createdAt ASC). The claim path writes nothing for sizing.
 */
import type { Firestore } from '@google-cloud/firestore';
import { SIZING_HISTORY_VERSION, type DemandHistory } from '../domain/sizing.js';
import type { Fence } from '../ports.js';
import type { ClaimSample, PoolSizingState, SizingStore, StoredDecision } from '../sizing-store.js';
import type { FirestoreStoreOptions } from './firestore-client.js';
import { fenceHolds, runtimeDocRef } from './firestore-runtime-store.js';

interface StoredDoc {
  history: string;
  foldedThrough: number | null;
  decision: StoredDecision | null;
  updatedAt: number;
}

function parseHistory(text: unknown): DemandHistory | null {
  if (typeof text !== 'string') return null;
  try {
    const h = JSON.parse(text) as DemandHistory;
    // A history of another layout is dropped (the pool relearns), never misread.
    return h && h.version === SIZING_HISTORY_VERSION ? h : null;
  } catch {
    return null;
  }
}

export class FirestoreSizingStore implements SizingStore {
  readonly #db: Firestore;
  readonly #prefix: string | undefined;
  readonly #collection: string;
  readonly #claims: string;

  constructor(db: Firestore, options: FirestoreStoreOptions = {}) {
    this.#db = db;
    this.#prefix = options.prefix;
    this.#collection = `${options.prefix ?? ''}poolSizing`;
    this.#claims = `${options.prefix ?? ''}claims`;
  }

  #ref(pool: string) {
    return this.#db.collection(this.#collection).doc(pool);
  }

  async load(pool: string): Promise<PoolSizingState | null> {
    const snap = await this.#ref(pool).get();
    const d = snap.data() as Partial<StoredDoc> | undefined;
    if (!d) return null;
    const history = parseHistory(d.history);
    if (!history) return null;
    return { history, foldedThrough: typeof d.foldedThrough === 'number' ? d.foldedThrough : null, decision: d.decision ?? null };
  }

  async save(pool: string, state: PoolSizingState, fence: Fence): Promise<boolean> {
    const doc: StoredDoc = { history: JSON.stringify(state.history), foldedThrough: state.foldedThrough, decision: state.decision, updatedAt: fence.now };
    return this.#db.runTransaction(async (tx) => {
      if (!(await fenceHolds(tx, runtimeDocRef(this.#db, this.#prefix, pool), fence))) return false;
      tx.set(this.#ref(pool), doc);
      return true;
    });
  }

  async decision(pool: string): Promise<StoredDecision | null> {
    const snap = await this.#db.collection(this.#collection).where('__name__', '==', this.#ref(pool)).select('decision').get();
    const d = snap.docs[0]?.data() as Partial<StoredDoc> | undefined;
    return d?.decision ?? null;
  }

  async servedBetween(pool: string, from: number, to: number): Promise<ClaimSample[]> {
    const snaps = await this.#db
      .collection(this.#claims)
      .where('pool', '==', pool)
      .where('createdAt', '>=', from)
      .where('createdAt', '<', to)
      .select('createdAt', 'instances')
      .get();
    return snaps.docs.map((s) => {
      const r = s.data() as { createdAt: number; instances?: string[] };
      const count = r.instances?.length ?? 0;
      return { at: r.createdAt, count, warm: count };
    });
  }
}
