import { describe, expect, it } from 'vitest';
import { CachingPoolStore, POOL_CACHE_MS, POOL_STALE_MS } from '../../shared/adapters/caching-pool-store.js';
import { MemoryPoolStore } from '../../shared/adapters/memory-store.js';
import { spec } from '../support/builders.js';
import { FakeClock } from '../support/fake-clock.js';

function setup() {
  const clock = new FakeClock();
  const inner = new MemoryPoolStore();
  const cached = new CachingPoolStore(inner, clock);
  return { clock, inner, cached };
}

describe('CachingPoolStore', () => {
  it('keeps the 2 s bound of the claim path', () => expect(POOL_CACHE_MS).toBe(2000));

  it.each([
    { case: 'a change behind its back is not seen before the TTL', after: POOL_CACHE_MS - 1, want: 3 },
    { case: 'and is seen once it has passed', after: POOL_CACHE_MS, want: 7 },
  ])('$case', async ({ after, want }) => {
    const { clock, inner, cached } = setup();
    await inner.putPool('ci', spec({ targetReady: 3 }), clock.now());
    expect((await cached.getPool('ci'))!.spec.targetReady).toBe(3);
    await inner.putPool('ci', spec({ targetReady: 7 }), clock.now()); // another process
    clock.advance(after);
    expect((await cached.getPool('ci'))!.spec.targetReady).toBe(want);
  });

  it('caches a missing pool too, for the TTL', async () => {
    const { clock, inner, cached } = setup();
    expect(await cached.getPool('ci')).toBeNull();
    await inner.putPool('ci', spec(), clock.now());
    expect(await cached.getPool('ci')).toBeNull();
    clock.advance(POOL_CACHE_MS);
    expect(await cached.getPool('ci')).not.toBeNull();
  });

  it('a write through it (or through its fresh view) clears its entry at once', async () => {
    const { clock, cached } = setup();
    await cached.putPool('ci', spec({ targetReady: 3 }), clock.now());
    expect((await cached.getPool('ci'))!.spec.targetReady).toBe(3);
    await cached.putPool('ci', spec({ targetReady: 5 }), clock.now());
    expect((await cached.getPool('ci'))!.spec.targetReady).toBe(5);
    await cached.fresh.putPool('ci', spec({ targetReady: 6 }), clock.now());
    expect((await cached.getPool('ci'))!.spec.targetReady).toBe(6);
  });

  it('the fresh view and listPools read the inner store', async () => {
    const { clock, inner, cached } = setup();
    await inner.putPool('ci', spec({ targetReady: 3 }), clock.now());
    await cached.getPool('ci');
    await inner.putPool('ci', spec({ targetReady: 4 }), clock.now());
    expect((await cached.fresh.getPool('ci'))!.spec.targetReady).toBe(4);
    expect((await cached.listPools())[0]!.spec.targetReady).toBe(4);
    expect((await cached.fresh.listPools())[0]!.spec.targetReady).toBe(4);
  });

  it.each([
    { case: 'prime caches every pool: a claim within the TTL reads nothing', after: POOL_CACHE_MS - 1, want: 3 },
    { case: 'and what it cached expires like any entry', after: POOL_CACHE_MS, want: 7 },
  ])('$case', async ({ after, want }) => {
    const { clock, inner, cached } = setup();
    await inner.putPool('a', spec({ targetReady: 3 }), clock.now());
    await inner.putPool('b', spec({ targetReady: 3 }), clock.now());
    expect((await cached.prime()).map((p) => p.name).sort()).toEqual(['a', 'b']);
    await inner.putPool('a', spec({ targetReady: 7 }), clock.now()); // another process
    await inner.putPool('b', spec({ targetReady: 7 }), clock.now());
    clock.advance(after);
    expect((await cached.getPool('a'))!.spec.targetReady).toBe(want);
    expect((await cached.getPool('b'))!.spec.targetReady).toBe(want);
  });

  it('prime leaves a pool it did not find uncached', async () => {
    const { clock, inner, cached } = setup();
    expect(await cached.prime()).toEqual([]);
    await inner.putPool('late', spec(), clock.now());
    expect(await cached.getPool('late')).not.toBeNull();
  });

  describe('getPoolForClaim with staleMs', () => {
    function staleSetup() {
      const clock = new FakeClock();
      let reads = 0;
      const inner = new MemoryPoolStore();
      const counted = { ...inner, getPool: (n: string) => (reads++, inner.getPool(n)), listPools: () => inner.listPools(), putPool: inner.putPool.bind(inner) };
      const cached = new CachingPoolStore(counted, clock, POOL_CACHE_MS, { staleMs: POOL_STALE_MS });
      return { clock, inner, cached, reads: () => reads };
    }

    it.each([
      { case: 'within the TTL: cached, not stale', after: POOL_CACHE_MS - 1, enabled: true, stale: false, reads: 1 },
      { case: 'past the TTL: the stale entry, no read (the claim verifies it)', after: POOL_CACHE_MS, enabled: true, stale: true, reads: 1 },
      { case: 'at the end of staleMs: read again', after: POOL_CACHE_MS + POOL_STALE_MS, enabled: true, stale: false, reads: 2 },
      {
        case: 'a disabled pool past the TTL: read again (a refusal is not decided by a stale spec)',
        after: POOL_CACHE_MS,
        enabled: false,
        stale: false,
        reads: 2,
      },
    ])('$case', async ({ after, enabled, stale, reads }) => {
      const { clock, inner, cached, reads: count } = staleSetup();
      await inner.putPool('ci', spec({ enabled }), clock.now());
      expect(await cached.getPoolForClaim('ci')).toMatchObject({ stale: false });
      clock.advance(after);
      expect(await cached.getPoolForClaim('ci')).toMatchObject({ stale, pool: { name: 'ci' } });
      expect(count()).toBe(reads);
    });

    it('a missing pool is never served stale', async () => {
      const { clock, inner, cached, reads } = staleSetup();
      expect((await cached.getPoolForClaim('ci')).pool).toBeNull();
      await inner.putPool('ci', spec(), clock.now());
      clock.advance(POOL_CACHE_MS);
      expect(await cached.getPoolForClaim('ci')).toMatchObject({ stale: false, pool: { name: 'ci' } });
      expect(reads()).toBe(2);
    });

    it.each([
      { case: 'confirming the cached version renews the entry for a TTL', confirm: 'cached' as const, stale: false },
      { case: 'confirming another version does not', confirm: 'other' as const, stale: true },
    ])('$case', async ({ confirm, stale }) => {
      const { clock, inner, cached } = staleSetup();
      await inner.putPool('ci', spec(), clock.now());
      const { pool } = await cached.getPoolForClaim('ci');
      clock.advance(POOL_CACHE_MS);
      cached.confirmPool('ci', confirm === 'cached' ? pool!.updatedAt : pool!.updatedAt + 1);
      clock.advance(POOL_CACHE_MS - 1);
      expect((await cached.getPoolForClaim('ci')).stale).toBe(stale);
    });

    it('without staleMs nothing is served stale', async () => {
      const { clock, inner, cached } = setup();
      await inner.putPool('ci', spec({ targetReady: 3 }), clock.now());
      await cached.getPoolForClaim('ci');
      await inner.putPool('ci', spec({ targetReady: 7 }), clock.now());
      clock.advance(POOL_CACHE_MS);
      expect(await cached.getPoolForClaim('ci')).toMatchObject({ stale: false, pool: { spec: { targetReady: 7 } } });
    });
  });
});
