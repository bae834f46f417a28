import type { Firestore } from '@google-cloud/firestore';
import { emptyRuntime, type PoolRuntime } from '../domain/pool-runtime.js';
import type { PoolRuntimeStore } from '../ports.js';
import type { FirestoreStoreOptions } from './firestore-client.js';

/**
 * poolRuntime/{pool}: reconcile's lease and memory (cold zones, breaker, last pass).
 * A few writes per pass, never one per claim.
 */
export class FirestorePoolRuntimeStore implements PoolRuntimeStore {
  readonly #db: Firestore;
  readonly #collection: string;

  constructor(db: Firestore, options: FirestoreStoreOptions = {}) {
    this.#db = db;
    this.#collection = `${options.prefix ?? ''}poolRuntime`;
  }

  #ref(pool: string) {
    return this.#db.collection(this.#collection).doc(pool);
  }

  async acquireLease(pool: string, holder: string, now: number, ttlMs: number): Promise<boolean> {
    const ref = this.#ref(pool);
    return this.#db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      const d = snap.data() as { lease?: { holder: string; until: number } | null; runtime?: PoolRuntime } | undefined;
      if (d?.lease && d.lease.holder !== holder && d.lease.until > now) return false;
      tx.set(ref, { lease: { holder, until: now + ttlMs }, runtime: d?.runtime ?? emptyRuntime() });
      return true;
    });
  }

  async releaseLease(pool: string, holder: string): Promise<void> {
    const ref = this.#ref(pool);
    await this.#db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      const d = snap.data() as { lease?: { holder: string; until: number } | null; runtime?: PoolRuntime } | undefined;
      if (!d || d.lease?.holder !== holder) return;
      tx.set(ref, { lease: null, runtime: d.runtime ?? emptyRuntime() });
    });
  }

  async getRuntime(pool: string): Promise<PoolRuntime> {
    const snap = await this.#ref(pool).get();
    const d = snap.data() as { runtime?: PoolRuntime } | undefined;
    return d?.runtime ?? emptyRuntime();
  }

  async saveRuntime(pool: string, runtime: PoolRuntime): Promise<void> {
    const ref = this.#ref(pool);
    await this.#db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      const d = snap.data() as { lease?: unknown } | undefined;
      tx.set(ref, { lease: d?.lease ?? null, runtime });
    });
  }
}
