/**
 * A short-lived per-process cache of pool specs in front of a PoolStore, for the claim
 * path: a claim then costs one query and one transaction. A spec change reaches claims
 * within `ttlMs`; a change written through this store (the admin API of the same
 * process) clears the cached entry at once.
 *
 * `getPool` is cached; `listPools` and `fresh` read the inner store directly (the admin
 * API reads fresh specs, and writes through this store so its own cache stays right).
 *
 * With `staleMs`, `getPoolForClaim` also answers from an entry past its TTL (up to
 * `staleMs` old, of an enabled pool): the first claim after an idle gap then waits for no
 * pool read. It says so (`stale`), and the claim has its own transaction verify the spec
 * (ClaimRequest.poolVersion), so a stale spec never decides a claim; only stores that
 * verify it may be behind such a cache. A transaction that found the spec unchanged
 * renews the entry (`confirmPool`); one that found it changed makes the claim read it
 * again (`getPool`, the entry being past its TTL).
 */
import type { Pool, PoolSpec } from '../domain/pool-spec.js';
import type { Clock, PoolStore } from '../ports.js';

/** How long a cached pool spec is served (the claim path's staleness bound). */
export const POOL_CACHE_MS = 2000;
/** How long past its TTL a cached spec may still serve a claim that verifies it (see getPoolForClaim). */
export const POOL_STALE_MS = 600_000;

export class CachingPoolStore implements PoolStore {
  readonly #inner: PoolStore;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #staleMs: number;
  readonly #cache = new Map<string, { pool: Pool | null; until: number }>();
  readonly #refreshing = new Map<string, Promise<Pool | null>>();

  constructor(inner: PoolStore, clock: Clock, ttlMs = POOL_CACHE_MS, options: { staleMs?: number } = {}) {
    this.#inner = inner;
    this.#clock = clock;
    this.#ttlMs = ttlMs;
    this.#staleMs = options.staleMs ?? 0;
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
    return this.#read(name, now);
  }

  async getPoolForClaim(name: string): Promise<{ pool: Pool | null; stale: boolean }> {
    const now = this.#clock.now();
    const hit = this.#cache.get(name);
    if (hit && hit.until > now) return { pool: hit.pool, stale: false };
    // A pool not found, or disabled, is read again: a stale answer would refuse a claim
    // that the stored spec (created or enabled since) allows, and nothing would verify it.
    if (hit?.pool?.spec.enabled && now < hit.until + this.#staleMs) return { pool: hit.pool, stale: true };
    return { pool: await this.#read(name, now), stale: false };
  }

  confirmPool(name: string, updatedAt: number): void {
    const hit = this.#cache.get(name);
    if (hit?.pool?.updatedAt === updatedAt) hit.until = Math.max(hit.until, this.#clock.now() + this.#ttlMs);
  }

  /** One read of the pool into the cache, shared by the lookups that want it meanwhile. */
  #read(name: string, now: number): Promise<Pool | null> {
    const pending = this.#refreshing.get(name);
    if (pending) return pending;
    const read = this.#inner.getPool(name).then((pool) => {
      // A write through this store meanwhile cleared the entry: what was read may predate it.
      if (this.#refreshing.get(name) === read) this.#cache.set(name, { pool, until: now + this.#ttlMs });
      return pool;
    });
    this.#refreshing.set(name, read);
    const done = () => {
      if (this.#refreshing.get(name) === read) this.#refreshing.delete(name);
    };
    read.then(done, done);
    return read;
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
      this.#refreshing.delete(name);
    }
  }
}
