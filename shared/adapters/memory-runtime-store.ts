/** Reconcile's per-pool lease and memory in memory (same contract as the Firestore runtime store). */
import type { Fence, PoolRuntimeStore } from '../ports.js';
import {
  claimPass,
  emptyRuntimeDoc,
  endPass,
  holdsLease,
  renewLease,
  type ClaimPassInput,
  type LeaseGrant,
  type PassClaim,
  type PoolRuntime,
  type PoolRuntimeDoc,
} from '../domain/pool-runtime.js';

const clone = <T>(v: T): T => structuredClone(v);

/**
 * Reconcile's lease and memory in memory. Link an instance store to it
 * (`new MemoryInstanceStore({ fence: (f) => runtime.holds(f) })`) so fenced record
 * writes are checked as atomically as in Firestore.
 */
export class MemoryPoolRuntimeStore implements PoolRuntimeStore {
  readonly #docs = new Map<string, PoolRuntimeDoc>();
  /** Calls per method, to measure what refill requests cost the document. */
  readonly calls: Record<string, number> = {};

  #count(method: string) {
    this.calls[method] = (this.calls[method] ?? 0) + 1;
  }

  #doc(pool: string): PoolRuntimeDoc {
    return clone(this.#docs.get(pool) ?? emptyRuntimeDoc());
  }

  /** Synchronous fence check for a linked instance store. */
  holds(fence: Fence): boolean {
    return holdsLease(this.#doc(fence.pool), fence, fence.now);
  }

  async acquireLease(pool: string, holder: string, now: number, ttlMs: number): Promise<boolean> {
    this.#count('acquireLease');
    const { claim, next } = claimPass(this.#doc(pool), { pool, holder, now, ttlMs, markDirty: false, sameHolderMayReacquire: true });
    if (next) this.#docs.set(pool, next);
    return claim.kind === 'acquired';
  }

  async releaseLease(pool: string, holder: string): Promise<void> {
    this.#count('releaseLease');
    const doc = this.#doc(pool);
    if (doc.lease?.holder === holder) this.#docs.set(pool, { ...doc, lease: null });
  }

  async claimPass(input: Omit<ClaimPassInput, 'sameHolderMayReacquire'>): Promise<PassClaim> {
    this.#count('claimPass');
    const { claim, next } = claimPass(this.#doc(input.pool), input);
    if (next) this.#docs.set(input.pool, next);
    return clone(claim);
  }

  async renewLease(lease: LeaseGrant, now: number, ttlMs: number): Promise<boolean> {
    this.#count('renewLease');
    const next = renewLease(this.#doc(lease.pool), lease, now, ttlMs);
    if (next) this.#docs.set(lease.pool, next);
    return next !== null;
  }

  async checkLease(lease: LeaseGrant, now: number): Promise<boolean> {
    this.#count('checkLease');
    return holdsLease(this.#doc(lease.pool), lease, now);
  }

  async endPass(lease: LeaseGrant, now: number, ttlMs: number, mayRerun: boolean): Promise<{ outcome: 'released' | 'rerun' | 'lost'; dirtySeq: number }> {
    this.#count('endPass');
    const { next, ...out } = endPass(this.#doc(lease.pool), lease, now, ttlMs, mayRerun);
    if (next) this.#docs.set(lease.pool, next);
    return out;
  }

  async getRuntimeDoc(pool: string): Promise<PoolRuntimeDoc> {
    this.#count('getRuntimeDoc');
    return this.#doc(pool);
  }

  async getRuntime(pool: string): Promise<PoolRuntime> {
    this.#count('getRuntime');
    return this.#doc(pool).runtime;
  }

  async saveRuntime(pool: string, runtime: PoolRuntime, lease?: LeaseGrant): Promise<boolean> {
    this.#count('saveRuntime');
    const doc = this.#doc(pool);
    if (lease && (doc.lease?.holder !== lease.holder || doc.lease.generation !== lease.generation)) return false;
    this.#docs.set(pool, { ...doc, runtime: clone(runtime) });
    return true;
  }
}
