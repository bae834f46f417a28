import type { DocumentReference, Firestore, Transaction } from '@google-cloud/firestore';
import {
  claimPass,
  endPass,
  holdsLease,
  parseRuntimeDoc,
  renewLease,
  type ClaimPassInput,
  type LeaseGrant,
  type PassClaim,
  type PoolRuntime,
  type PoolRuntimeDoc,
} from '../domain/pool-runtime.js';
import type { Fence, PoolRuntimeStore } from '../ports.js';
import type { FirestoreStoreOptions } from './firestore-client.js';

/** poolRuntime/{pool} of a store with this prefix (the instance store reads it to fence a record write). */
export const runtimeDocRef = (db: Firestore, prefix: string | undefined, pool: string): DocumentReference =>
  db.collection(`${prefix ?? ''}poolRuntime`).doc(pool);

/** Inside a transaction: whether `fence` still holds its pool's lease (one read of poolRuntime/{pool}). */
export async function fenceHolds(tx: Transaction, ref: DocumentReference, fence: Fence): Promise<boolean> {
  const snap = await tx.get(ref);
  return holdsLease(parseRuntimeDoc(snap.data()), fence, fence.now);
}

/**
 * poolRuntime/{pool}: reconcile's lease (with its fencing generation and the dirty mark
 * of coalesced refill requests) and memory (cold zones, breaker, last pass). A few writes
 * per pass and at most one transaction per refill request, never one per claim.
 * The decisions are pure (domain/pool-runtime.ts); each method is one transaction.
 */
export class FirestorePoolRuntimeStore implements PoolRuntimeStore {
  readonly #db: Firestore;
  readonly #prefix: string | undefined;

  constructor(db: Firestore, options: FirestoreStoreOptions = {}) {
    this.#db = db;
    this.#prefix = options.prefix;
  }

  #ref(pool: string) {
    return runtimeDocRef(this.#db, this.#prefix, pool);
  }

  /** Reads the document, lets `decide` return the next one (null: no write), writes it. */
  #update<T>(pool: string, decide: (doc: PoolRuntimeDoc) => { out: T; next: PoolRuntimeDoc | null }): Promise<T> {
    const ref = this.#ref(pool);
    return this.#db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      const { out, next } = decide(parseRuntimeDoc(snap.data()));
      if (next) tx.set(ref, next);
      return out;
    });
  }

  acquireLease(pool: string, holder: string, now: number, ttlMs: number): Promise<boolean> {
    return this.#update(pool, (doc) => {
      const { claim, next } = claimPass(doc, { pool, holder, now, ttlMs, markDirty: false, sameHolderMayReacquire: true });
      return { out: claim.kind === 'acquired', next };
    });
  }

  async releaseLease(pool: string, holder: string): Promise<void> {
    await this.#update(pool, (doc) => ({ out: undefined, next: doc.lease?.holder === holder ? { ...doc, lease: null } : null }));
  }

  claimPass(input: Omit<ClaimPassInput, 'sameHolderMayReacquire'>): Promise<PassClaim> {
    return this.#update(input.pool, (doc) => {
      const { claim, next } = claimPass(doc, input);
      return { out: claim, next };
    });
  }

  renewLease(lease: LeaseGrant, now: number, ttlMs: number): Promise<boolean> {
    return this.#update(lease.pool, (doc) => {
      const next = renewLease(doc, lease, now, ttlMs);
      return { out: next !== null, next };
    });
  }

  async checkLease(lease: LeaseGrant, now: number): Promise<boolean> {
    return holdsLease(await this.getRuntimeDoc(lease.pool), lease, now);
  }

  endPass(lease: LeaseGrant, now: number, ttlMs: number, mayRerun: boolean): Promise<{ outcome: 'released' | 'rerun' | 'lost'; dirtySeq: number }> {
    return this.#update(lease.pool, (doc) => {
      const { next, ...out } = endPass(doc, lease, now, ttlMs, mayRerun);
      return { out, next };
    });
  }

  async getRuntimeDoc(pool: string): Promise<PoolRuntimeDoc> {
    const snap = await this.#ref(pool).get();
    return parseRuntimeDoc(snap.data());
  }

  async getRuntime(pool: string): Promise<PoolRuntime> {
    return (await this.getRuntimeDoc(pool)).runtime;
  }

  saveRuntime(pool: string, runtime: PoolRuntime, lease?: LeaseGrant): Promise<boolean> {
    return this.#update(pool, (doc) => {
      if (lease && (doc.lease?.holder !== lease.holder || doc.lease.generation !== lease.generation)) return { out: false, next: null };
      return { out: true, next: { ...doc, runtime } };
    });
  }
}
