/**
 * The Firestore claim after an idle gap: it starts from what it knew (the candidate list
 * and the pool spec, both past their TTLs) and lets the transaction verify both, instead
 * of waiting for a candidate query and a pool read first. Outcomes and the emulator's own
 * counts of queries, documents read, transactions and rollbacks.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Firestore } from '@google-cloud/firestore';
import { createFirestore } from '../../../shared/adapters/firestore-client.js';
import { CANDIDATE_CACHE_MS, STALE_CANDIDATES_MS } from '../../../shared/adapters/firestore-claim.js';
import { FirestoreInstanceStore } from '../../../shared/adapters/firestore-instance-store.js';
import { FirestorePoolStore } from '../../../shared/adapters/firestore-pool-store.js';
import { startFirestoreEmulator, type FirestoreEmulator } from '../../../local/firestore/emulator.js';
import type { ClaimRequest } from '../../../shared/domain/claim.js';
import type { StoreStats } from '../../../local/firestore/stats.js';
import { record, spec } from '../../support/builders.js';
import { FakeClock } from '../../support/fake-clock.js';

let emulator: FirestoreEmulator;
const clients: Firestore[] = [];
let n = 0;

beforeAll(async () => {
  emulator = await startFirestoreEmulator();
  for (let i = 0; i < 2; i++) clients.push(createFirestore({ projectId: 'warmer-stale', emulatorHost: emulator.hostPort }));
});
// The candidate reads a claim defers until it has answered, before the next test (and the clients' close).
const stores: FirestoreInstanceStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.drain()));
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.terminate()));
  await emulator.stop();
});

/** Two instances on one pool of `count` ready machines (oldest first), and the pool's spec. */
async function setup(count: number) {
  const prefix = `stale${++n}_`;
  const clock = new FakeClock();
  const [a, b] = clients.map((db) => new FirestoreInstanceStore(db, { prefix, clock, random: () => 0 }));
  stores.push(a!, b!);
  const pools = new FirestorePoolStore(clients[0]!, { prefix });
  const { pool } = await pools.putPool('p', spec(), clock.now());
  const t = clock.now() - 60_000;
  const names = Array.from({ length: count }, (_, i) => `stale-m${i}`);
  for (const [i, name] of names.entries()) await a!.create(record({ pool: 'p', state: 'ready', at: t + i, name }));
  return { a: a!, b: b!, pools, names, clock, version: pool.updatedAt };
}

const req = (requestId: string, now: number, poolVersion?: number): ClaimRequest => ({
  pool: 'p',
  principal: 'alice',
  requestId,
  count: 1,
  now,
  assignee: null,
  labels: {},
  lifetimeSeconds: null,
  ...(poolVersion === undefined ? {} : { poolVersion }),
});

const since = (before: StoreStats) => {
  const after = emulator.store.stats;
  return {
    queries: after.queries - before.queries,
    transactions: after.transactions - before.transactions,
    commits: after.transactionCommits - before.transactionCommits,
    rollbacks: after.rollbacks - before.rollbacks,
  };
};

const names = (o: Awaited<ReturnType<FirestoreInstanceStore['claim']>>) => (o.kind === 'claimed' ? o.instances.map((i) => i.name) : o.kind);
const tick = () => new Promise((r) => setImmediate(r));

describe('a claim checked against a stale pool spec (poolVersion)', () => {
  it.each([
    { case: 'the stored spec unchanged: claims, in one transaction', change: 'none' as const, want: 'claimed' },
    { case: 'the pool written since: pool_changed, rolled back, nothing claimed', change: 'written' as const, want: 'pool_changed' },
  ])('$case', async ({ change, want }) => {
    const { a, pools, clock, version } = await setup(2);
    if (change === 'written') {
      clock.advance(1);
      await pools.putPool('p', spec({ targetReady: 9 }), clock.now());
    }
    const before = emulator.store.stats;
    const out = await a.claim(req('r1', clock.now(), version));
    expect(out.kind).toBe(want);
    // The client sends its Rollback as the transaction's function fails, without waiting for it.
    await vi.waitFor(() => expect(since(before).rollbacks).toBe(want === 'claimed' ? 0 : 1));
    const d = since(before);
    expect(d.transactions).toBe(1);
    expect(d.commits).toBe(want === 'claimed' ? 1 : 0);
    expect((await a.countByState('p')).claimed ?? 0).toBe(want === 'claimed' ? 1 : 0);
  });

  it('a pool that is gone: pool_changed, nothing claimed', async () => {
    const { a, clock, version } = await setup(0);
    // A ready machine left in a pool whose document is gone.
    await a.create(record({ pool: 'gone', state: 'ready', at: clock.now() - 1000, name: 'gone-m0' }));
    expect((await a.claim({ ...req('r1', clock.now(), version), pool: 'gone' })).kind).toBe('pool_changed');
    expect((await a.countByState('gone')).ready).toBe(1);
  });

  it('a replay is answered whatever the spec (its machines were claimed under the spec of its time)', async () => {
    const { a, pools, clock, version } = await setup(2);
    const first = names(await a.claim(req('r1', clock.now())));
    clock.advance(1);
    await pools.putPool('p', spec({ targetReady: 9 }), clock.now());
    expect(names(await a.claim(req('r1', clock.now(), version)))).toEqual(first);
  });
});

describe('a claim after an idle gap', () => {
  it('picks from the candidate list past its TTL without a query, then reads afresh once served', async () => {
    const { a, names: all, clock } = await setup(3);
    expect(names(await a.claim(req('r1', clock.now())))).toEqual([all[0]]);
    clock.advance(CANDIDATE_CACHE_MS * 3);
    a.prefetchCandidates('p');
    const before = emulator.store.stats;
    expect(names(await a.claim(req('r2', clock.now())))).toEqual([all[1]]);
    expect(since(before)).toMatchObject({ queries: 0, transactions: 1, commits: 1, rollbacks: 0 });
    // The refresh is deferred until the claim has answered.
    await tick();
    await a.drain();
    expect(since(before).queries).toBe(1);
  });

  it('a stale pick another instance took is replaced in the same transaction', async () => {
    const { a, b, names: all, clock } = await setup(3);
    expect(names(await a.claim(req('a1', clock.now())))).toEqual([all[0]]);
    expect(names(await b.claim(req('b1', clock.now())))).toEqual([all[1]]);
    clock.advance(CANDIDATE_CACHE_MS * 3);
    const before = emulator.store.stats;
    // a's stale list says m1 (b took it): found taken in the transaction, replaced by m2.
    expect(names(await a.claim(req('a2', clock.now())))).toEqual([all[2]]);
    expect(since(before)).toMatchObject({ transactions: 1, commits: 1, rollbacks: 0 });
  });

  it('past STALE_CANDIDATES_MS it reads first, as a claim with no list does', async () => {
    const { a, names: all, clock } = await setup(2);
    expect(names(await a.claim(req('r1', clock.now())))).toEqual([all[0]]);
    clock.advance(STALE_CANDIDATES_MS);
    const before = emulator.store.stats;
    expect(names(await a.claim(req('r2', clock.now())))).toEqual([all[1]]);
    expect(since(before).queries).toBe(1);
  });
});
