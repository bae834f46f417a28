/**
 * The sizing store contract: the Firestore store (embedded emulator) and the in-memory
 * one behave alike. Each `make()` is a fresh set of linked stores: the sizing store, the
 * runtime store whose lease fences its saves, and the instance store whose claim receipts
 * it reads served claims from.
 */
import { describe, expect, it } from 'vitest';
import { emptyHistory, recordClaim } from '../../../shared/domain/sizing.js';
import type { InstanceStore, PoolRuntimeStore } from '../../../shared/ports.js';
import type { PoolSizingState, SizingStore } from '../../../shared/sizing-store.js';
import { record } from '../../support/builders.js';

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);

export interface SizingStores {
  sizing: SizingStore;
  runtime: PoolRuntimeStore;
  instances: InstanceStore;
}

async function lease(runtime: PoolRuntimeStore, pool: string, holder: string, now: number) {
  const c = await runtime.claimPass({ pool, holder, now, ttlMs: 60_000 });
  if (c.kind !== 'acquired') throw new Error(`lease not acquired: ${c.kind}`);
  return { pool, holder, generation: c.lease.generation, now };
}

function state(): PoolSizingState {
  const h = recordClaim(emptyHistory(), T0 + 1000, { count: 4, warm: 3, predictedHitRate: 0.9 });
  return {
    history: h,
    foldedThrough: T0 + 2000,
    decision: {
      target: 5,
      mode: 'demand',
      computedAt: T0 + 12_000,
      leadMs: 45_000,
      why: {
        slot: 9,
        burstsPerHour: 2.5,
        burstSizeP50: 4,
        burstSizeP90: 9,
        burstSizeMax: 19,
        historyHours: 30.5,
        aimedHitRate: 0.91,
        missRatio: 0.8,
        predictedHitRate: 0.93,
        observedHitRate: null,
        unbounded: 5,
        scheduleFloor: 0,
        minReady: 0,
        maxReady: 20,
        boundedBy: 'model',
        basis: 'profile',
      },
    },
  };
}

export function sizingContract(name: string, make: () => SizingStores) {
  describe(`${name}: sizing store contract`, () => {
    it('load is null before any save; a save under the lease reads back intact, and its decision alone', async () => {
      const s = make();
      expect(await s.sizing.load('ci')).toBeNull();
      expect(await s.sizing.decision('ci')).toBeNull();
      const fence = await lease(s.runtime, 'ci', 'pass-1', T0);
      expect(await s.sizing.save('ci', state(), fence)).toBe(true);
      expect(await s.sizing.load('ci')).toEqual(state());
      expect(await s.sizing.decision('ci')).toEqual(state().decision);
      expect(await s.sizing.load('web')).toBeNull();
    });

    it('a save without the lease (another pass took it over) writes nothing', async () => {
      const s = make();
      const old = await lease(s.runtime, 'ci', 'pass-1', T0);
      expect(await s.sizing.save('ci', state(), old)).toBe(true);
      // The lease expires and another pass takes it: the old generation no longer saves.
      const next = await lease(s.runtime, 'ci', 'pass-2', T0 + 120_000);
      const changed = { ...state(), foldedThrough: T0 + 99_000 };
      expect(await s.sizing.save('ci', changed, { ...old, now: T0 + 120_001 })).toBe(false);
      expect((await s.sizing.load('ci'))!.foldedThrough).toBe(T0 + 2000);
      expect(await s.sizing.save('ci', changed, { ...next, now: T0 + 120_001 })).toBe(true);
      expect((await s.sizing.load('ci'))!.foldedThrough).toBe(T0 + 99_000);
    });

    it('servedBetween reads one pool’s claim receipts in [from, to), warm, one per claim', async () => {
      const s = make();
      for (let i = 0; i < 4; i++) await s.instances.create(record({ pool: 'ci', state: 'ready', at: T0 - 60_000, name: `ci-r${i}` }));
      await s.instances.create(record({ pool: 'web', state: 'ready', at: T0 - 60_000, name: 'web-r0' }));
      const claim = (pool: string, id: string, count: number, now: number) =>
        s.instances.claim({ pool, principal: 'ci-bot', requestId: id, assignee: null, labels: {}, count, lifetimeSeconds: null, now });
      expect((await claim('ci', 'a', 1, T0)).kind).toBe('claimed');
      expect((await claim('ci', 'b', 2, T0 + 5000)).kind).toBe('claimed');
      expect((await claim('ci', 'c', 1, T0 + 10_000)).kind).toBe('claimed');
      expect((await claim('web', 'd', 1, T0 + 5000)).kind).toBe('claimed');
      // A replay is the same claim: no second receipt.
      expect((await claim('ci', 'b', 2, T0 + 6000)).kind).toBe('claimed');
      const got = (await s.sizing.servedBetween('ci', T0, T0 + 10_000)).sort((a, b) => a.at - b.at);
      expect(got).toEqual([
        { at: T0, count: 1, warm: 1 },
        { at: T0 + 5000, count: 2, warm: 2 },
      ]);
      expect(await s.sizing.servedBetween('ci', T0 + 10_001, T0 + 20_000)).toEqual([]);
      expect(await s.sizing.servedBetween('web', T0, T0 + 20_000)).toEqual([{ at: T0 + 5000, count: 1, warm: 1 }]);
    });
  });
}
