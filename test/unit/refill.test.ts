/**
 * The refill service on a fake clock: when a request is already covered, how long it
 * waits for another pass's lease (and with what jitter), when it asks for redelivery,
 * and the boot watch after a pass. Outcomes: passes run, machines made, records' states.
 */
import { describe, expect, it } from 'vitest';
import { MemoryInstanceStore, MemoryPoolRuntimeStore, MemoryPoolStore } from '../../shared/adapters/memory-store.js';
import { memoryLogger } from '../../shared/logging.js';
import { DEFAULT_SETTINGS, type ReconcileDeps } from '../../shared/services/reconcile.js';
import { DEFAULT_BOOT_WATCH, handleRefill, LEASE_JITTER_MS, LEASE_POLL_MS, LEASE_WAIT_MS, watchBooting } from '../../shared/services/refill.js';
import { emptyRuntime } from '../../shared/domain/pool-runtime.js';
import { FakeCompute, FakeProber } from '../support/fake-compute.js';
import { FakePublisher } from '../support/fake-publisher.js';
import { FakeClock } from '../support/fake-clock.js';
import { spec } from '../support/builders.js';

const NO_WATCH = { budgetMs: 0, intervalMs: 1000 };

async function setup(opts: { random?: number; onSleep?: (n: number) => Promise<void> } = {}) {
  const clock = new FakeClock(1_800_000_000_000);
  let sleeps = 0;
  const deps: ReconcileDeps & { compute: FakeCompute; prober: FakeProber; runtime: MemoryPoolRuntimeStore; instances: MemoryInstanceStore } = {
    pools: new MemoryPoolStore(),
    instances: new MemoryInstanceStore(),
    runtime: new MemoryPoolRuntimeStore(),
    compute: new FakeCompute(),
    prober: new FakeProber(),
    publisher: new FakePublisher(),
    clock,
    logger: memoryLogger(),
    settings: { ...DEFAULT_SETTINGS },
    sleep: async (ms) => {
      await clock.sleep(ms);
      await opts.onSleep?.(++sleeps);
    },
    random: () => opts.random ?? 0.5,
  };
  await deps.pools.putPool('ci', spec({ targetReady: 3, maxSize: 6 }), clock.now());
  await deps.pools.putPool('web', spec({ targetReady: 1, maxSize: 2 }), clock.now());
  return { deps, clock };
}

const states = async (deps: ReconcileDeps, pool = 'ci') => (await deps.instances.listByPool(pool)).map((r) => r.state).sort();

describe('handleRefill: covered or not', () => {
  it.each([
    { case: 'a pass started after publication covers it', lastPassAt: 0, publishedAt: -1, ran: false },
    { case: 'a pass started at the publication instant covers it', lastPassAt: 0, publishedAt: 0, ran: false },
    { case: 'a pass started before publication does not', lastPassAt: -1, publishedAt: 0, ran: true },
    { case: 'an unknown publication time is never covered', lastPassAt: 0, publishedAt: null, ran: true },
    { case: 'no pass yet: not covered', lastPassAt: null, publishedAt: 0, ran: true },
  ])('$case', async ({ lastPassAt, publishedAt, ran }) => {
    const { deps, clock } = await setup();
    const t = clock.now();
    if (lastPassAt !== null) {
      await deps.runtime.saveRuntime('ci', { ...emptyRuntime(), lastPass: { startedAt: t + lastPassAt, durationMs: 1, created: 0, tornDown: 0, orphansDeleted: 0, error: null } });
    }
    const out = await handleRefill(deps, { pool: 'ci', publishedAt: publishedAt === null ? null : t + publishedAt }, NO_WATCH);
    if (ran) {
      expect(out).toMatchObject([{ pool: 'ci', outcome: 'done', created: 3 }]);
      expect(await states(deps)).toEqual(['booting', 'booting', 'booting']);
    } else {
      expect(out).toBeNull();
      expect(await deps.compute.listMachines({})).toEqual([]);
    }
  });

  it('"*" reconciles every pool', async () => {
    const { deps } = await setup();
    const out = await handleRefill(deps, { pool: '*', publishedAt: null }, NO_WATCH);
    expect(out!.map((s) => [s.pool, s.outcome, s.created])).toEqual([
      ['ci', 'done', 3],
      ['web', 'done', 1],
    ]);
  });
});

describe('handleRefill: another pass holds the lease', () => {
  it.each([
    { random: 0, each: LEASE_POLL_MS },
    { random: 0.5, each: LEASE_POLL_MS + LEASE_JITTER_MS / 2 },
    { random: 0.999, each: LEASE_POLL_MS + 0.999 * LEASE_JITTER_MS },
  ])('stays busy: waits about $each ms at a time for LEASE_WAIT_MS, then fails with contention (redeliver)', async ({ random, each }) => {
    const { deps, clock } = await setup({ random });
    const start = clock.now();
    await deps.runtime.acquireLease('ci', 'other-pass', start, 10 * LEASE_WAIT_MS);
    await expect(handleRefill(deps, { pool: 'ci', publishedAt: start }, NO_WATCH)).rejects.toMatchObject({ code: 'contention', retryable: true });
    expect(clock.slept.length).toBe(Math.ceil(LEASE_WAIT_MS / each));
    for (const ms of clock.slept) expect(ms).toBeCloseTo(each, 6);
    expect(clock.now() - start).toBeGreaterThanOrEqual(LEASE_WAIT_MS);
    expect(clock.now() - start).toBeLessThan(LEASE_WAIT_MS + LEASE_POLL_MS + LEASE_JITTER_MS);
    expect(await deps.compute.listMachines({})).toEqual([]);
  });

  it('the lease frees during the wait: runs its own pass', async () => {
    let deps!: ReconcileDeps;
    const s = await setup({ onSleep: async (n) => (n === 3 ? deps.runtime.releaseLease('ci', 'other-pass') : undefined) });
    deps = s.deps;
    await deps.runtime.acquireLease('ci', 'other-pass', s.clock.now(), 10 * LEASE_WAIT_MS);
    const out = await handleRefill(deps, { pool: 'ci', publishedAt: s.clock.now() }, NO_WATCH);
    expect(out).toMatchObject([{ outcome: 'done', created: 3 }]);
    expect(s.clock.slept.length).toBe(3);
  });

  it('the other pass covers it during the wait: done without a pass of its own', async () => {
    let deps!: ReconcileDeps;
    let published = 0;
    const s = await setup({
      onSleep: async (n) => {
        if (n === 2) await deps.runtime.saveRuntime('ci', { ...emptyRuntime(), lastPass: { startedAt: published, durationMs: 1, created: 0, tornDown: 0, orphansDeleted: 0, error: null } });
      },
    });
    deps = s.deps;
    published = s.clock.now();
    await deps.runtime.acquireLease('ci', 'other-pass', published, 10 * LEASE_WAIT_MS);
    expect(await handleRefill(deps, { pool: 'ci', publishedAt: published }, NO_WATCH)).toBeNull();
    expect(s.clock.slept.length).toBe(2);
    expect(await deps.compute.listMachines({})).toEqual([]);
  });
});

describe('handleRefill: the boot watch after a pass', () => {
  it.each([
    { case: 'healthy machines become ready within the watch', budgetMs: 90_000, healthy: true, want: ['ready', 'ready', 'ready'], sleeps: 1 },
    { case: 'no watch with a zero budget', budgetMs: 0, healthy: true, want: ['booting', 'booting', 'booting'], sleeps: 0 },
    { case: 'machines that never answer: watched until the budget, then left booting', budgetMs: 5000, healthy: false, want: ['booting', 'booting', 'booting'], sleeps: 4 },
  ])('$case', async ({ budgetMs, healthy, want, sleeps }) => {
    const { deps, clock } = await setup();
    deps.prober.healthyByDefault = healthy;
    await handleRefill(deps, { pool: 'ci', publishedAt: null }, { budgetMs, intervalMs: 1000 });
    expect(await states(deps)).toEqual(want);
    expect(clock.slept).toEqual(Array.from({ length: sleeps }, () => 1000));
  });

  it('the default watch is 90 s at 1 s intervals', () => expect(DEFAULT_BOOT_WATCH).toEqual({ budgetMs: 90_000, intervalMs: 1000 }));

  it('watchBooting stops when its signal aborts', async () => {
    const abort = new AbortController();
    const { deps, clock } = await setup({ onSleep: async (n) => (n === 2 ? abort.abort() : undefined) });
    await handleRefill(deps, { pool: 'ci', publishedAt: null }, NO_WATCH);
    deps.prober.healthyByDefault = false;
    expect(await watchBooting(deps, 'ci', 60_000, 1000, abort.signal)).toBe(0);
    expect(clock.slept).toEqual([1000, 1000]);
  });

  it('watchBooting on a pool that does not exist makes nothing ready', async () => {
    const { deps } = await setup();
    expect(await watchBooting(deps, 'nope', 60_000, 1000)).toBe(0);
  });
});
