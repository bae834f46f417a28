/**
 * The status page's data over in-memory stores, a memory history and a fake clock:
 * counts by state, hits vs misses per 5-minute bucket, time to ready, recent teardowns.
 */
import { describe, expect, it } from 'vitest';
import { MemoryInstanceStore, MemoryPoolStore } from '../../shared/adapters/memory-store.js';
import { MemoryHistoryStore } from '../../shared/adapters/memory-history.js';
import { memoryLogger } from '../../shared/logging.js';
import type { HistoryEvent, HistoryStore } from '../../shared/history.js';
import {
  BUCKET_MS,
  buildDashboard,
  cachedDashboard,
  cachedStatus,
  type ActivityEvent,
  dashboardWindow,
  percentile,
  RECENT_TEARDOWNS,
  STATUS_CACHE_MS,
  WINDOW_BUCKETS,
} from '../../shared/services/dashboard.js';
import { claimInstances, releaseInstance } from '../../shared/services/claim.js';
import { handleTeardown } from '../../shared/services/teardown.js';
import { FakeCompute } from '../support/fake-compute.js';
import { FakePublisher } from '../support/fake-publisher.js';
import { record, spec } from '../support/builders.js';

const MIN = 60_000;
// 10:32:30 into some day: the current bucket is [10:30, 10:35).
const NOW = Date.UTC(2026, 10, 2, 10, 32, 30);

async function setup(opts: { history?: HistoryStore | null } = {}) {
  let now = NOW;
  const logger = memoryLogger();
  const history = opts.history === undefined ? new MemoryHistoryStore() : opts.history;
  const deps = {
    pools: new MemoryPoolStore(),
    instances: new MemoryInstanceStore(),
    publisher: new FakePublisher(),
    clock: { now: () => now },
    logger,
    ...(history ? { history } : {}),
  };
  await deps.pools.putPool('ci', spec({ targetReady: 3, maxSize: 8 }), now);
  await deps.pools.putPool('web', spec({ targetReady: 1, maxSize: 2, enabled: false }), now);
  return { deps, logger, history, setNow: (t: number) => (now = t) };
}

const rec = (e: Partial<HistoryEvent> & Pick<HistoryEvent, 'type' | 'at'>): HistoryEvent => ({ pool: 'ci', ...e });
const ev = (e: Partial<Omit<HistoryEvent, 'type'>> & { type: ActivityEvent['type']; at: number }): ActivityEvent => ({ pool: 'ci', ...e }) as ActivityEvent;

describe('dashboardWindow', () => {
  it('ends at the end of the current 5-minute bucket and spans 12 buckets', () => {
    const w = dashboardWindow(NOW);
    expect(w.end).toBe(Date.UTC(2026, 10, 2, 10, 35));
    expect(w.start).toBe(Date.UTC(2026, 10, 2, 9, 35));
    expect(w.bucketMs).toBe(BUCKET_MS);
    expect((w.end - w.start) / w.bucketMs).toBe(WINDOW_BUCKETS);
  });
});

describe('percentile (nearest rank)', () => {
  it.each([
    [[], 50, null],
    [[7], 50, 7],
    [[7], 90, 7],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50, 5],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90, 9],
    [[1, 2, 3, 4], 50, 2],
    [[1, 2, 3, 4], 90, 4],
  ])('%j p%d → %s', (values, p, want) => {
    expect(percentile(values, p)).toBe(want);
  });
});

describe('buildDashboard', () => {
  it('counts machines by state per pool, with target, maxSize and live total', async () => {
    const { deps } = await setup();
    for (const state of ['ready', 'ready', 'booting', 'claimed', 'deleted'] as const) await deps.instances.create(record({ pool: 'ci', state, at: NOW - MIN }));
    const d = await buildDashboard(deps);
    expect(d.generatedAt).toBe(NOW);
    expect(d.history).toBe('ok');
    expect(d.pools.map((p) => p.name)).toEqual(['ci', 'web']);
    const ci = d.pools[0]!;
    expect(ci).toMatchObject({ enabled: true, targetReady: 3, maxSize: 8, live: 4 });
    expect(ci.counts).toMatchObject({ ready: 2, booting: 1, claimed: 1, deleted: 1, creating: 0 });
    expect(d.pools[1]).toMatchObject({ name: 'web', enabled: false, targetReady: 1, maxSize: 2, live: 0 });
  });

  it('puts hits and misses in 5-minute buckets over the last hour; older events and other pools are left out', async () => {
    const history = new MemoryHistoryStore();
    const { deps } = await setup({ history });
    const w = dashboardWindow(NOW);
    const events: ActivityEvent[] = [
      ev({ type: 'claim_hit', at: w.start - 1, count: 1 }), // before the window
      ev({ type: 'claim_hit', at: w.start, count: 2 }), // first bucket
      ev({ type: 'claim_miss', at: w.start + BUCKET_MS - 1, count: 1 }), // still the first bucket
      ev({ type: 'claim_hit', at: NOW - 10_000, count: 1 }), // current bucket
      ev({ type: 'claim_hit', at: NOW, count: 3 }),
      ev({ type: 'claim_miss', at: NOW - 1000, count: 5 }),
      ev({ type: 'claim_miss', at: NOW - 6 * MIN, count: 1 }), // previous bucket
      { type: 'claim_hit', pool: 'web', at: NOW, count: 1 },
    ];
    // Misses are recorded; hits are served claims, read from their receipts.
    for (const e of events) if (e.type !== 'claim_hit') await history.record(e);
    const served = events.flatMap((e) => (e.type === 'claim_hit' ? [{ pool: e.pool, at: e.at, count: e.count }] : []));
    deps.instances.claimsSince = async (since: number) => served.filter((c) => c.at >= since);
    const ci = (await buildDashboard(deps)).pools[0]!;
    expect(ci.claims.buckets).toHaveLength(12);
    expect(ci.claims.buckets[0]).toEqual({ start: w.start, hits: 1, misses: 1 });
    expect(ci.claims.buckets[10]).toEqual({ start: w.start + 10 * BUCKET_MS, hits: 0, misses: 1 });
    expect(ci.claims.buckets[11]).toEqual({ start: w.start + 11 * BUCKET_MS, hits: 2, misses: 1 });
    expect(ci.claims.buckets.slice(1, 10).every((b) => b.hits === 0 && b.misses === 0)).toBe(true);
    expect(ci.claims).toMatchObject({ hits: 3, misses: 3, machinesServed: 6 });
  });

  it('time to ready: p50 and p90 of the boot times in the window, samples oldest first', async () => {
    const history = new MemoryHistoryStore();
    const { deps } = await setup({ history });
    await history.record(rec({ type: 'ready', at: dashboardWindow(NOW).start - 1, durationMs: 999_000 })); // too old
    // 10 boot times, 10 s … 100 s, recorded newest first
    for (let i = 10; i >= 1; i--) await history.record(rec({ type: 'ready', at: NOW - i * MIN, instance: `ci-${i}`, durationMs: i * 10_000 }));
    const { timeToReady } = (await buildDashboard(deps)).pools[0]!;
    expect(timeToReady).toMatchObject({ count: 10, p50Ms: 50_000, p90Ms: 90_000 });
    expect(timeToReady.samples.map((s) => s.at)).toEqual(Array.from({ length: 10 }, (_, i) => NOW - (10 - i) * MIN));
    const web = (await buildDashboard(deps)).pools[1]!;
    expect(web.timeToReady).toEqual({ count: 0, p50Ms: null, p90Ms: null, samples: [] });
  });

  it('lists the 20 most recent teardowns, newest first, with reasons', async () => {
    const history = new MemoryHistoryStore();
    const { deps } = await setup({ history });
    for (let i = 0; i < 25; i++) {
      await history.record(rec({ type: 'teardown', at: NOW - (25 - i) * MIN, instance: `ci-${i}`, reason: i % 2 ? 'released' : 'max_idle' }));
    }
    const { teardowns } = (await buildDashboard(deps)).pools[0]!;
    expect(teardowns).toHaveLength(RECENT_TEARDOWNS);
    expect(teardowns[0]).toEqual({ at: NOW - MIN, instance: 'ci-24', reason: 'max_idle' });
    expect(teardowns[1]).toEqual({ at: NOW - 2 * MIN, instance: 'ci-23', reason: 'released' });
    expect(teardowns.map((t) => t.at)).toEqual([...teardowns.map((t) => t.at)].sort((a, b) => b - a));
  });

  it("served claims come from the claims' receipts, next to misses from the history", async () => {
    const { deps } = await setup();
    for (let i = 0; i < 3; i++) await deps.instances.create(record({ pool: 'ci', state: 'ready', at: NOW - 60_000 + i }));
    await claimInstances(deps, { pool: 'ci', principal: 'alice', requestId: 'r1', assignee: null, labels: {}, count: 2 });
    await expect(claimInstances(deps, { pool: 'ci', principal: 'alice', requestId: 'r2', assignee: null, labels: {}, count: 2 })).rejects.toMatchObject({
      code: 'pool_empty',
    });
    const ci = (await buildDashboard(deps)).pools.find((p) => p.name === 'ci')!;
    expect(ci.claims).toMatchObject({ hits: 1, misses: 1, machinesServed: 2 });
  });

  it('the window moves with the clock', async () => {
    const history = new MemoryHistoryStore();
    const { deps, setNow } = await setup({ history });
    // A served claim is counted from its receipt (nothing records a claim_hit).
    await deps.instances.create(record({ pool: 'ci', state: 'ready', at: NOW - 60_000 }));
    await claimInstances(deps, { pool: 'ci', principal: 'alice', requestId: 'w1', assignee: null, labels: {}, count: 1 });
    setNow(NOW + 30 * MIN);
    expect((await buildDashboard(deps)).pools[0]!.claims.buckets[5]).toMatchObject({ hits: 1 });
    setNow(NOW + 61 * MIN);
    expect((await buildDashboard(deps)).pools[0]!.claims.hits).toBe(0);
  });

  it('without a history store: live counts, empty charts, history "none"', async () => {
    const { deps } = await setup({ history: null });
    await deps.instances.create(record({ pool: 'ci', state: 'ready', at: NOW }));
    const d = await buildDashboard(deps);
    expect(d.history).toBe('none');
    expect(d.pools[0]!.counts.ready).toBe(1);
    expect(d.pools[0]!.claims.hits).toBe(0);
  });

  it('a failing history read is logged; counts are still served, history "unavailable"', async () => {
    const broken: HistoryStore = {
      record: async () => {},
      since: async () => {
        throw new Error('firestore down');
      },
    };
    const { deps, logger } = await setup({ history: broken });
    await deps.instances.create(record({ pool: 'ci', state: 'ready', at: NOW }));
    const d = await buildDashboard(deps);
    expect(d.history).toBe('unavailable');
    expect(d.pools[0]!.counts.ready).toBe(1);
    expect(logger.entries.some((e) => e.severity === 'WARNING' && e.message === 'history not read; status page shows live counts only')).toBe(true);
  });

  it('from the services: a hit, a miss and a released machine show up', async () => {
    const { deps, setNow } = await setup();
    for (let i = 0; i < 2; i++) await deps.instances.create(record({ pool: 'ci', state: 'ready', at: NOW - 10 * MIN + i }));
    const hit = await claimInstances(deps, { pool: 'ci', principal: 'alice', requestId: 'job-1', assignee: null, labels: {}, count: 1 });
    await claimInstances(deps, { pool: 'ci', principal: 'alice', requestId: 'job-1', assignee: null, labels: {}, count: 1 }); // replay: not a second hit
    await expect(claimInstances(deps, { pool: 'ci', principal: 'alice', requestId: 'job-2', assignee: null, labels: {}, count: 3 })).rejects.toMatchObject({
      code: 'pool_empty',
    });
    const name = hit.instances[0]!.name;
    await releaseInstance(deps, name, { role: 'claim', principal: 'alice' });
    setNow(NOW + 5000);
    const compute = new FakeCompute();
    await handleTeardown({ ...deps, compute }, { instance: name, pool: 'ci', reason: 'released' });
    const ci = (await buildDashboard(deps)).pools[0]!;
    expect(ci.claims).toMatchObject({ hits: 1, misses: 1, machinesServed: 1 });
    expect(ci.teardowns).toEqual([{ at: NOW + 5000, instance: name, reason: 'released' }]);
    expect(ci.counts).toMatchObject({ ready: 1, claimed: 0, deleted: 1 });
  });
});

describe('the status cache', () => {
  it('150 concurrent requests share one computation; a request after STATUS_CACHE_MS recomputes', async () => {
    const { deps, setNow } = await setup();
    let counted = 0;
    const countByState = deps.instances.countByState.bind(deps.instances);
    deps.instances.countByState = async (pool: string) => {
      counted++;
      return countByState(pool);
    };
    await deps.instances.create(record({ pool: 'ci', state: 'ready', at: NOW }));
    const answers = await Promise.all(Array.from({ length: 150 }, () => cachedDashboard(deps)));
    expect(counted).toBe(2); // one per pool, not per request
    expect(answers.every((a) => a.pools.find((p) => p.name === 'ci')!.counts.ready === 1)).toBe(true);
    setNow(NOW + STATUS_CACHE_MS - 1);
    await cachedDashboard(deps);
    expect(counted).toBe(2);
    await deps.instances.create(record({ pool: 'ci', state: 'ready', at: NOW }));
    setNow(NOW + STATUS_CACHE_MS);
    const fresh = await cachedDashboard(deps);
    expect(counted).toBe(4);
    expect(fresh.pools.find((p) => p.name === 'ci')!.counts.ready).toBe(2);
  });

  it('a failed computation is not cached', async () => {
    const { deps } = await setup();
    const listPools = deps.pools.listPools.bind(deps.pools);
    let fail = true;
    deps.pools.listPools = async () => {
      if (fail) throw new Error('store down');
      return listPools();
    };
    const status = cachedStatus(async (d: typeof deps) => (await d.pools.listPools()).length);
    await expect(status(deps)).rejects.toThrow('store down');
    fail = false;
    expect(await status(deps)).toBe(2);
  });
});
