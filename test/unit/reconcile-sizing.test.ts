/**
 * Demand sizing inside a reconcile pass, over in-memory stores and a fake clock: the pass
 * folds the recorded claims (receipts of served claims, claim_miss events) under its
 * lease, plans with the computed target, and stores the target and why; failures of the
 * sizing store never stop a pass.
 */
import { describe, expect, it } from 'vitest';
import { MemoryPoolStore, linkedMemoryStores } from '../../shared/adapters/memory-store.js';
import { MemoryHistoryStore } from '../../shared/adapters/memory-history.js';
import { MemorySizingStore } from '../../shared/adapters/memory-sizing-store.js';
import { memoryLogger } from '../../shared/logging.js';
import { DEFAULT_SETTINGS, reconcilePool, type ReconcileDeps } from '../../shared/services/reconcile.js';
import { emptyHistory } from '../../shared/domain/sizing.js';
import type { PoolSpecInput } from '../../shared/domain/pool-spec.js';
import { FakeCompute, FakeProber } from '../support/fake-compute.js';
import { FakePublisher } from '../support/fake-publisher.js';
import { spec } from '../support/builders.js';

const MONDAY_9 = Date.UTC(2026, 0, 5, 9, 0, 0);
const MIN = 60_000;

async function setup(overrides: Partial<PoolSpecInput> = {}) {
  let now = MONDAY_9;
  const logger = memoryLogger();
  const linked = linkedMemoryStores();
  const history = new MemoryHistoryStore();
  const sizing = new MemorySizingStore(linked.runtime, linked.instances);
  const deps: ReconcileDeps & { compute: FakeCompute; sizing: MemorySizingStore; history: MemoryHistoryStore } = {
    pools: new MemoryPoolStore(),
    ...linked,
    compute: new FakeCompute(),
    prober: new FakeProber(),
    publisher: new FakePublisher(),
    clock: { now: () => now },
    logger,
    history,
    sizing,
    settings: { ...DEFAULT_SETTINGS, sshKeyPassphrase: 'local passphrase' },
  };
  await deps.pools.putPool('ci', spec({ targetReady: 0, maxSize: 30, sizing: { mode: 'demand', warmHitTarget: 0.9 }, ...overrides }), now);
  return { deps, logger, now: () => now, advance: (ms: number) => (now += ms) };
}

/** A burst of `n` missed claims, one machine each, 1 s apart, starting now. */
async function missedBurst(h: MemoryHistoryStore, at: number, n: number) {
  for (let i = 0; i < n; i++) await h.record({ type: 'claim_miss', pool: 'ci', at: at + i * 1000, count: 1 });
}

describe('reconcile with demand sizing', () => {
  it('a new demand pool holds nothing; after bursts of claims its target rises, the pass creates that many, and the target and why are stored', async () => {
    const { deps, advance, now } = await setup();
    expect(await reconcilePool(deps, 'ci')).toMatchObject({ outcome: 'done', created: 0 });
    const first = await deps.sizing.decision('ci');
    expect(first).toMatchObject({ target: 0, mode: 'demand', computedAt: now(), leadMs: 60_000 });
    expect(first!.why).toMatchObject({ observedHitRate: null, boundedBy: 'model' });
    expect(first!.why.historyHours).toBeLessThanOrEqual(1);

    // Three hours of bursts of 12 claims every 15 minutes, a pass every 5 minutes.
    for (let m = 0; m < 180; m += 5) {
      if (m % 15 === 0) await missedBurst(deps.history, now(), 12);
      advance(5 * MIN);
      expect((await reconcilePool(deps, 'ci')).outcome).toBe('done');
    }
    const d = await deps.sizing.decision('ci');
    expect(d!.target).toBeGreaterThanOrEqual(6);
    expect(d!.target).toBeLessThanOrEqual(12);
    expect(d!.why).toMatchObject({ burstSizeP50: 12, burstSizeMax: 12, observedHitRate: 0 });
    expect(d!.why.historyHours).toBeGreaterThanOrEqual(2);
    // The pass planned with it: that many machines (ready or booting) exist.
    const counts = await deps.instances.countByState('ci');
    expect(counts.booting + counts.ready + counts.creating).toBe(d!.target);
    // Every claim folded exactly once: 12 bursts × 12 claims, all cold.
    const state = await deps.sizing.load('ci');
    const h = state!.history;
    expect(h.current.cold + h.served.cold).toBeGreaterThan(143);
    expect(h.current.cold + h.served.cold).toBeLessThanOrEqual(144);
    expect(state!.foldedThrough).toBeLessThanOrEqual(now());
  });

  it('served claims are read from their receipts (warm), misses from the history (cold)', async () => {
    const { deps, advance, now } = await setup({ sizing: { mode: 'demand', warmHitTarget: 0.9, minReady: 2 } });
    await reconcilePool(deps, 'ci');
    advance(5000);
    await reconcilePool(deps, 'ci'); // booting → ready
    expect((await deps.instances.countByState('ci')).ready).toBe(2);
    const claim = (id: string) =>
      deps.instances.claim({ pool: 'ci', principal: 'p', requestId: id, assignee: null, labels: {}, count: 1, lifetimeSeconds: null, now: now() });
    expect((await claim('a')).kind).toBe('claimed');
    expect((await claim('b')).kind).toBe('claimed');
    await deps.history.record({ type: 'claim_miss', pool: 'ci', at: now(), count: 3 });
    advance(2 * MIN);
    await reconcilePool(deps, 'ci');
    const h = (await deps.sizing.load('ci'))!.history;
    expect(h.current).toMatchObject({ claims: 5, warm: 2, cold: 3, bursts: 1 });
    expect(await deps.sizing.decision('ci')).toMatchObject({ why: { minReady: 2 } });
  });

  it('a minReady floor and a matching schedule bound the target; the why says which', async () => {
    const { deps } = await setup({ sizing: { mode: 'demand', warmHitTarget: 0.9, minReady: 1, schedules: [{ cron: '* 8-17 * * 1-5', minReady: 4 }] } });
    await reconcilePool(deps, 'ci');
    expect(await deps.sizing.decision('ci')).toMatchObject({ target: 4, why: { boundedBy: 'schedule', scheduleFloor: 4, unbounded: 0 } });
    expect(deps.compute.machines.size).toBe(4);
  });

  it('a pool without sizing plans with targetReady and stores nothing', async () => {
    const { deps } = await setup({ targetReady: 2, sizing: undefined });
    await deps.pools.putPool('ci', spec({ targetReady: 2, maxSize: 30 }), MONDAY_9);
    await reconcilePool(deps, 'ci');
    expect(deps.compute.machines.size).toBe(2);
    expect(await deps.sizing.load('ci')).toBeNull();
  });

  it('a sizing store that cannot be read: the pass still plans (from an empty history: minReady) and logs a warning', async () => {
    const { deps, logger } = await setup({ sizing: { mode: 'demand', warmHitTarget: 0.9, minReady: 3 } });
    deps.sizing.load = () => Promise.reject(new Error('firestore unavailable'));
    expect(await reconcilePool(deps, 'ci')).toMatchObject({ outcome: 'done', created: 3 });
    expect(logger.entries.some((r) => String(r.message).startsWith('sizing history not read'))).toBe(true);
  });

  it('a save that fails is logged; the claims are folded again by the next pass (not lost)', async () => {
    const { deps, advance, now, logger } = await setup();
    await reconcilePool(deps, 'ci');
    await missedBurst(deps.history, now(), 5);
    advance(MIN);
    const save = deps.sizing.save.bind(deps.sizing);
    deps.sizing.save = () => Promise.reject(new Error('deadline exceeded'));
    await reconcilePool(deps, 'ci');
    expect(logger.entries.some((r) => String(r.message).startsWith('sizing history not saved'))).toBe(true);
    deps.sizing.save = save;
    advance(MIN);
    await reconcilePool(deps, 'ci');
    expect((await deps.sizing.load('ci'))!.history.current).toMatchObject({ claims: 5, cold: 5 });
  });

  it('a save under a lost lease is refused by the store (a stale pass cannot overwrite the history)', async () => {
    const { deps, now } = await setup();
    await reconcilePool(deps, 'ci');
    const stale = { pool: 'ci', holder: 'old-pass', generation: 0, now: now() };
    expect(await deps.sizing.save('ci', { history: emptyHistory(), foldedThrough: now(), decision: null }, stale)).toBe(false);
    expect((await deps.sizing.load('ci'))!.decision).not.toBeNull();
  });
});
