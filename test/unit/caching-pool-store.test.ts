import { describe, expect, it } from 'vitest';
import { CachingPoolStore, POOL_CACHE_MS } from '../../shared/adapters/caching-pool-store.js';
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
});
