/**
 * A short-lived per-process cache of pool specs in front of a PoolStore, for the claim
 * path: a claim then costs one query and one transaction. A spec change reaches claims
 * within `ttlMs`; a change written through this store (the admin API of the same
 * process) clears the cached entry at once.
 *
 * `getPool` is cached; `listPools` and `fresh` read the inner store directly (the admin
 * API reads fresh specs, and writes through this store so its own cache stays right).
 */
import type { Pool, PoolSpec } from '../domain/pool-spec.js';
import type { Clock, PoolStore } from '../ports.js';

/** How long a cached pool spec is served (the claim path's staleness bound). */
export const POOL_CACHE_MS = 2000;

export class CachingPoolStore implements PoolStore {
  readonly #inner: PoolStore;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #cache = new Map<string, { pool: Pool | null; until: number }>();

  constructor(inner: PoolStore, clock: Clock, ttlMs = POOL_CACHE_MS) {
    this.#inner = inner;
    this.#clock = clock;
    this.#ttlMs = ttlMs;
  }

  /** The same store without the read cache; its writes still clear this cache. */
  readonly fresh: PoolStore = {
    getPool: (name) => this.#inner.getPool(name),
    listPools: () => this.#inner.listPools(),
    putPool: (name, spec, now) => this.putPool(name, spec, now),
  };

  async getPool(name: string): Promise<Pool | null> {
    const now = this.#clock.now();
    const hit = this.#cache.get(name);
    if (hit && hit.until > now) return hit.pool;
    const pool = await this.#inner.getPool(name);
    this.#cache.set(name, { pool, until: now + this.#ttlMs });
    return pool;
  }

  listPools(): Promise<Pool[]> {
    return this.#inner.listPools();
  }

  /**
   * Reads every pool (one query) into the cache, as a new instance's warm-up: the claims
   * it takes within `ttlMs` of it (the request that started the instance waits for its
   * port, so comes at once) find their pool cached. Returns the pools it cached.
   */
  async prime(): Promise<Pool[]> {
    const now = this.#clock.now();
    const pools = await this.#inner.listPools();
    for (const pool of pools) this.#cache.set(pool.name, { pool, until: now + this.#ttlMs });
    return pools;
  }

  async putPool(name: string, spec: PoolSpec, now: number): Promise<{ created: boolean; pool: Pool }> {
    try {
      return await this.#inner.putPool(name, spec, now);
    } finally {
      this.#cache.delete(name);
    }
  }
}
