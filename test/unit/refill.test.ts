/**
 * The refill service on a fake clock: when a request is already covered, how long it
 * waits for another pass's lease (and with what jitter), when it asks for redelivery,
 * and the boot watch after a pass. Outcomes: passes run, machines made, records' states.
 */
import { describe, expect, it } from 'vitest';
import { MemoryInstanceStore, MemoryPoolRuntimeStore, MemoryPoolStore, linkedMemoryStores } from '../../shared/adapters/memory-store.js';
import { memoryLogger } from '../../shared/logging.js';
import { DEFAULT_SETTINGS, type ReconcileDeps } from '../../shared/services/reconcile.js';
import { DEFAULT_BOOT_WATCH, handleRefill, watchBooting } from '../../shared/services/refill.js';
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
    ...linkedMemoryStores(),
    compute: new FakeCompute(),
    prober: new FakeProber(),
    publisher: new FakePublisher(),
    clock,
    logger: memoryLogger(),
    settings: { ...DEFAULT_SETTINGS },
    after: clock.after,
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
      await deps.runtime.saveRuntime('ci', {
        ...emptyRuntime(),
        lastPass: { startedAt: t + lastPassAt, durationMs: 1, created: 0, tornDown: 0, orphansDeleted: 0, error: null },
      });
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

// These replace the old polling tests ("waits about N ms at a time for LEASE_WAIT_MS, then
// fails with contention", "the lease frees during the wait", "the other pass covers it
// during the wait"): issue 10 removes the wait itself. A request that finds a pass running
// now returns at once, having marked the pool dirty (or being covered by that pass).
describe('handleRefill: another pass holds the lease (coalesced)', () => {
  it.each([
    { case: 'the running pass started before the request: marked dirty', passStartedAt: -1, dirtied: 1 },
    { case: 'the running pass started after the request: it covers it, nothing written', passStartedAt: 1, dirtied: 0 },
  ])('$case; returns at once without a pass of its own', async ({ passStartedAt, dirtied }) => {
    const { deps, clock } = await setup();
    const t = clock.now();
    await deps.runtime.acquireLease('ci', 'other-pass', t + passStartedAt, 120_000);
    const before = await deps.runtime.getRuntimeDoc('ci');
    deps.runtime.calls.claimPass = 0;
    expect(await handleRefill(deps, { pool: 'ci', publishedAt: t }, NO_WATCH)).toBeNull();
    const after = await deps.runtime.getRuntimeDoc('ci');
    expect(after.dirtySeq - before.dirtySeq).toBe(dirtied);
    expect(after.lease).toEqual(before.lease);
    expect(deps.runtime.calls.claimPass).toBe(1);
    expect(clock.slept).toEqual([]);
    expect(await deps.compute.listMachines({})).toEqual([]);
  });

  it('requests that arrive during a pass are acknowledged, and the pass runs again for them before releasing', async () => {
    const s = await setup();
    const { deps } = s;
    const inner: Array<Promise<unknown>> = [];
    const list = deps.compute.listMachines.bind(deps.compute);
    let lists = 0;
    deps.compute.listMachines = async (labels) => {
      // During the first pass: a claim takes a machine... and five refill requests come in.
      if (++lists === 1) s.clock.advance(1);
      if (lists === 1) for (let i = 0; i < 5; i++) inner.push(handleRefill(deps, { pool: 'ci', publishedAt: deps.clock.now() }, NO_WATCH));
      return list(labels);
    };
    const out = await handleRefill(deps, { pool: 'ci', publishedAt: deps.clock.now() }, NO_WATCH);
    expect(await Promise.all(inner)).toEqual([null, null, null, null, null]);
    expect(out).toMatchObject([{ outcome: 'done', created: 3, reruns: 1 }]);
    expect(lists).toBe(2); // one pass, then one re-run for all five requests
    const doc = await deps.runtime.getRuntimeDoc('ci');
    expect(doc.lease).toBeNull();
    expect(doc.dirtySeq).toBe(5);
    // the re-run probed the first run's machines: they are ready
    expect(await states(deps)).toEqual(['ready', 'ready', 'ready']);
  });

  it('a burst of refill requests costs at most one runtime-document transaction each, and no log line each', async () => {
    const s = await setup();
    const { deps } = s;
    const logger = deps.logger as ReturnType<typeof memoryLogger>;
    const N = 200;
    const list = deps.compute.listMachines.bind(deps.compute);
    const burst: Array<Promise<unknown>> = [];
    let lists = 0;
    deps.compute.listMachines = async (labels) => {
      if (++lists === 1) s.clock.advance(1);
      if (lists === 1) for (let i = 0; i < N; i++) burst.push(handleRefill(deps, { pool: 'ci', publishedAt: deps.clock.now() }, NO_WATCH));
      return list(labels);
    };
    for (const k of Object.keys(deps.runtime.calls)) delete deps.runtime.calls[k];
    const linesBefore = logger.entries.length;
    await handleRefill(deps, { pool: 'ci', publishedAt: deps.clock.now() }, NO_WATCH);
    await Promise.all(burst);
    const calls = deps.runtime.calls;
    const requests = N + 1;
    // Transactions: one claimPass per request; the passes add their own few (end, save), not per request.
    const passTx = (calls.endPass ?? 0) + (calls.saveRuntime ?? 0) + (calls.renewLease ?? 0);
    expect(calls.claimPass).toBe(requests);
    expect(passTx).toBeLessThanOrEqual(4);
    const skipLines = logger.entries.slice(linesBefore).filter((l) => String(l.message).startsWith('reconcile skipped') && l.severity !== 'DEBUG');
    expect(skipLines).toEqual([]);
    console.log(
      `refill burst: ${requests} requests → ${calls.claimPass} claimPass + ${passTx} pass transactions, ${(calls.getRuntime ?? 0) + (calls.checkLease ?? 0)} plain reads (per request: ${((calls.claimPass! + passTx) / requests).toFixed(3)} transactions)`,
    );
  });
});

describe('handleRefill: the boot watch after a pass', () => {
  it.each([
    { case: 'healthy machines become ready within the watch', budgetMs: 90_000, healthy: true, want: ['ready', 'ready', 'ready'], sleeps: 1 },
    { case: 'no watch with a zero budget', budgetMs: 0, healthy: true, want: ['booting', 'booting', 'booting'], sleeps: 0 },
    {
      case: 'machines that never answer: watched until the budget, then left booting',
      budgetMs: 5000,
      healthy: false,
      want: ['booting', 'booting', 'booting'],
      sleeps: 4,
    },
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
