/**
 * warmApiDeps (functions/compose.ts): a new instance's warm-up reads every pool into the
 * claim's pool cache and starts the candidate read of a bounded number of enabled pools.
 */
import { describe, expect, it } from 'vitest';
import { warmApiDeps } from '../../functions/compose.js';
import { CachingPoolStore } from '../../shared/adapters/caching-pool-store.js';
import { MemoryPoolStore } from '../../shared/adapters/memory-pool-store.js';
import { MemoryInstanceStore } from '../../shared/adapters/memory-instance-store.js';
import type { ApiDeps } from '../../shared/services/deps.js';
import { spec } from '../support/builders.js';
import { FakeClock } from '../support/fake-clock.js';

class PrefetchRecorder extends MemoryInstanceStore {
  readonly prefetched: string[] = [];
  prefetchCandidates(pool: string): void {
    this.prefetched.push(pool);
  }
}

async function setup(pools: Array<{ name: string; enabled: boolean }>) {
  const clock = new FakeClock();
  const inner = new MemoryPoolStore();
  for (const p of pools) await inner.putPool(p.name, spec({ enabled: p.enabled }), clock.now());
  let reads = 0;
  const counted = { ...inner, getPool: (n: string) => (reads++, inner.getPool(n)), listPools: () => inner.listPools(), putPool: inner.putPool.bind(inner) };
  const instances = new PrefetchRecorder();
  const claimPools = new CachingPoolStore(counted, clock);
  return { deps: { claimPools, instances } as unknown as ApiDeps, instances, claimPools, reads: () => reads };
}

describe('warmApiDeps', () => {
  it.each([
    { case: 'no pool', pools: [], prefetched: [] },
    {
      case: 'enabled pools only',
      pools: [
        { name: 'a', enabled: true },
        { name: 'b', enabled: false },
      ],
      prefetched: ['a'],
    },
    {
      case: 'at most 8 pools',
      pools: Array.from({ length: 10 }, (_, i) => ({ name: `p${i}`, enabled: true })),
      prefetched: Array.from({ length: 8 }, (_, i) => `p${i}`),
    },
  ])('caches every pool and prefetches the candidates of $case', async ({ pools, prefetched }) => {
    const s = await setup(pools);
    await warmApiDeps(s.deps);
    expect([...s.instances.prefetched].sort()).toEqual([...prefetched].sort());
    for (const p of pools) expect((await s.claimPools.getPool(p.name))?.name).toBe(p.name);
    expect(s.reads()).toBe(0);
  });
});
