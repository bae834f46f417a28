/**
 * The claim service after an idle gap, over the deployed stores (Firestore behind the
 * claim path's CachingPoolStore with staleMs, as functions/compose.ts builds it): it
 * starts from the cached spec past its TTL, and its transaction verifies it, so a pool
 * disabled or changed by another process meanwhile is never claimed from under its
 * stale spec, and an unchanged one costs no pool read.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CachingPoolStore, POOL_CACHE_MS, POOL_STALE_MS } from '../../../shared/adapters/caching-pool-store.js';
import { FirestoreInstanceStore } from '../../../shared/adapters/firestore-instance-store.js';
import { FirestorePoolStore } from '../../../shared/adapters/firestore-pool-store.js';
import { memoryLogger } from '../../../shared/logging.js';
import { claimInstances } from '../../../shared/services/claim.js';
import type { ApiDeps } from '../../../shared/services/deps.js';
import { record, spec } from '../../support/builders.js';
import { FakeClock } from '../../support/fake-clock.js';
import { FakePublisher } from '../../support/fake-publisher.js';
import { startTestFirestore, type TestFirestore } from '../../support/firestore.js';

let fs: TestFirestore;
beforeAll(async () => {
  fs = await startTestFirestore('warmer-stale-pool');
});
afterAll(() => fs.stop());
// The candidate reads a claim defers until it has answered, before the next test (and the client's close).
const stores: FirestoreInstanceStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.drain()));
});

async function setup() {
  const prefix = fs.prefix('stalepool');
  const clock = new FakeClock();
  const stored = new FirestorePoolStore(fs.db, { prefix });
  const cached = new CachingPoolStore(stored, clock, POOL_CACHE_MS, { staleMs: POOL_STALE_MS });
  const instances = new FirestoreInstanceStore(fs.db, { prefix, clock, random: () => 0 });
  stores.push(instances);
  const deps: ApiDeps = { pools: cached.fresh, claimPools: cached, instances, publisher: new FakePublisher(), clock, logger: memoryLogger() };
  await stored.putPool('ci', spec({ maxSize: 10 }), clock.now());
  for (let i = 0; i < 4; i++) await instances.create(record({ pool: 'ci', state: 'ready', at: clock.now() - 10_000 + i, name: `${prefix}m${i}` }));
  const claim = (requestId: string, count = 1) => claimInstances(deps, { pool: 'ci', principal: 'alice', requestId, assignee: null, labels: {}, count });
  // Another process's admin API: written to Firestore behind this cache's back.
  const elsewhere = (s: Parameters<typeof spec>[0]) => (clock.advance(1), stored.putPool('ci', spec(s), clock.now()));
  return { clock, claim, elsewhere, instances };
}

const docsRead = () => fs.emulator.store.stats.docsRead;

describe('a claim from a stale pool spec', () => {
  it('unchanged: served, the spec verified in the transaction (no pool read of its own), and the entry renewed', async () => {
    const { clock, claim } = await setup();
    await claim('r1');
    clock.advance(POOL_CACHE_MS * 2);
    const before = docsRead();
    expect((await claim('r2')).instances).toHaveLength(1);
    // The transaction's one read: receipt, pool and pick.
    expect(docsRead() - before).toBe(3);
    // Renewed: the next claim within the TTL neither reads nor verifies the pool.
    clock.advance(POOL_CACHE_MS - 1);
    const again = docsRead();
    await claim('r3');
    expect(docsRead() - again).toBe(2);
  });

  it.each([
    { case: 'disabled elsewhere meanwhile: refused (pool_disabled), nothing claimed', change: { maxSize: 10, enabled: false }, error: 'pool_disabled' },
    { case: 'its maxSize lowered below the count meanwhile: refused (bad_request)', change: { maxSize: 1, targetReady: 1 }, error: 'bad_request' },
  ])('$case', async ({ change, error }) => {
    const { clock, claim, elsewhere, instances } = await setup();
    await claim('r1');
    await elsewhere(change);
    clock.advance(POOL_CACHE_MS * 2);
    await expect(claim('r2', 2)).rejects.toMatchObject({ code: error });
    expect((await instances.countByState('ci')).claimed).toBe(1);
  });

  it('changed elsewhere but still open to the claim: served under the stored spec (its claim lifetime)', async () => {
    const { clock, claim, elsewhere } = await setup();
    await claim('r1');
    await elsewhere({ maxSize: 10, claimLifetimeSeconds: 600 });
    clock.advance(POOL_CACHE_MS * 2);
    const out = await claim('r2');
    expect(out.pool.spec.claimLifetimeSeconds).toBe(600);
    expect(out.instances[0]!.claim!.expiresAt).toBe(clock.now() + 600_000);
  });
});
