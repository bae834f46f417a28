/**
 * Where history events are recorded (claim, reconcile, boot watch, teardown), and that
 * recording is best effort: a failing history store never fails the operation.
 */
import { describe, expect, it } from 'vitest';
import { MemoryInstanceStore, MemoryPoolStore, linkedMemoryStores } from '../../shared/adapters/memory-store.js';
import { MemoryHistoryStore } from '../../shared/adapters/memory-history.js';
import { memoryLogger } from '../../shared/logging.js';
import { claimInstances, releaseInstance } from '../../shared/services/claim.js';
import { handleTeardown } from '../../shared/services/teardown.js';
import { DEFAULT_SETTINGS, reconcilePool, type ReconcileDeps } from '../../shared/services/reconcile.js';
import { watchBooting } from '../../shared/services/refill.js';
import { FakeCompute, FakeProber } from '../support/fake-compute.js';
import { FakePublisher } from '../support/fake-publisher.js';
import { record, spec } from '../support/builders.js';

const T0 = 1_800_000_000_000;

async function setup() {
  let now = T0;
  const logger = memoryLogger();
  const history = new MemoryHistoryStore();
  const deps: ReconcileDeps & {
    instances: MemoryInstanceStore;
    compute: FakeCompute;
    prober: FakeProber;
    publisher: FakePublisher;
    history: MemoryHistoryStore;
  } = {
    pools: new MemoryPoolStore(),
    ...linkedMemoryStores(),
    compute: new FakeCompute(),
    prober: new FakeProber(),
    publisher: new FakePublisher(),
    clock: { now: () => now },
    logger,
    history,
    settings: { ...DEFAULT_SETTINGS },
  };
  await deps.pools.putPool('ci', spec({ targetReady: 2, maxSize: 4 }), now);
  return { deps, history, logger, advance: (ms: number) => (now += ms) };
}

describe('history recording', () => {
  it('claims: a miss on the empty path; a served claim is counted from its receipt (no history write), once even if replayed', async () => {
    const { deps, history } = await setup();
    for (let i = 0; i < 2; i++) await deps.instances.create(record({ pool: 'ci', state: 'ready', at: T0 - 1000 + i }));
    await claimInstances(deps, { pool: 'ci', principal: 'alice', requestId: 'a', assignee: null, labels: {}, count: 2 });
    await claimInstances(deps, { pool: 'ci', principal: 'alice', requestId: 'a', assignee: null, labels: {}, count: 2 });
    await expect(claimInstances(deps, { pool: 'ci', principal: 'alice', requestId: 'b', assignee: null, labels: {}, count: 1 })).rejects.toMatchObject({
      code: 'pool_empty',
    });
    expect(history.events).toEqual([{ type: 'claim_miss', pool: 'ci', at: T0, count: 1 }]);
    expect(await deps.instances.claimsSince(T0 - 1)).toEqual([{ pool: 'ci', at: T0, count: 2 }]);
  });

  it('reconcile: a ready event with the boot time (ready − created)', async () => {
    const { deps, history, advance } = await setup();
    await reconcilePool(deps, 'ci');
    expect(history.events).toEqual([]);
    advance(42_000);
    await reconcilePool(deps, 'ci');
    const ready = history.events.filter((e) => e.type === 'ready');
    expect(ready).toHaveLength(2);
    for (const e of ready) expect(e).toMatchObject({ pool: 'ci', at: T0 + 42_000, durationMs: 42_000 });
    expect(new Set(ready.map((e) => e.instance)).size).toBe(2);
  });

  it('boot watch: a ready event per machine it makes ready', async () => {
    const { deps, history } = await setup();
    const r = record({ pool: 'ci', state: 'booting', at: T0 - 30_000 });
    r.createdAt = T0 - 31_000;
    await deps.instances.create(r);
    expect(await watchBooting(deps, 'ci', 0, 10)).toBe(1);
    expect(history.events).toEqual([{ type: 'ready', pool: 'ci', at: T0, instance: r.name, durationMs: 31_000 }]);
  });

  it('teardown: one event with the record reason, not repeated on redelivery', async () => {
    const { deps, history, advance } = await setup();
    const r = record({ pool: 'ci', state: 'claimed', at: T0 });
    await deps.instances.create(r);
    await releaseInstance(deps, r.name, { role: 'admin', principal: 'ops' });
    advance(3000);
    await handleTeardown(deps, { instance: r.name, pool: 'ci', reason: 'something else' });
    await handleTeardown(deps, { instance: r.name, pool: 'ci', reason: 'something else' });
    expect(history.events).toEqual([{ type: 'teardown', pool: 'ci', at: T0 + 3000, instance: r.name, reason: 'released' }]);
  });

  it('a failing history store is logged and never fails the claim, the pass or the teardown', async () => {
    const { deps, history, logger, advance } = await setup();
    history.failRecords = true;
    await reconcilePool(deps, 'ci');
    advance(10_000);
    expect(await reconcilePool(deps, 'ci')).toMatchObject({ outcome: 'done', madeReady: 2 });
    const res = await claimInstances(deps, { pool: 'ci', principal: 'alice', requestId: 'x', assignee: null, labels: {}, count: 1 });
    await expect(claimInstances(deps, { pool: 'ci', principal: 'alice', requestId: 'y', assignee: null, labels: {}, count: 4 })).rejects.toMatchObject({
      code: 'pool_empty',
    });
    await releaseInstance(deps, res.instances[0]!.name, { role: 'claim', principal: 'alice' });
    expect(await handleTeardown(deps, { instance: res.instances[0]!.name, pool: 'ci', reason: 'released' })).toBe('deleted');
    const warnings = logger.entries.filter((e) => e.message === 'history event not recorded');
    expect(warnings.map((w) => w.type).sort()).toEqual(['claim_miss', 'ready', 'ready', 'teardown']);
    expect(warnings.every((w) => w.severity === 'WARNING')).toBe(true);
  });
});
