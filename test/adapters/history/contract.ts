/**
 * The history contract: every HistoryStore implementation passes it (the Firestore
 * history against the embedded emulator, the in-memory one). Each `make()` is a fresh,
 * empty store.
 */
import { describe, expect, it } from 'vitest';
import type { HistoryEvent, HistoryStore } from '../../../shared/history.js';

const T0 = 1_700_000_000_000;

export function historyContract(name: string, make: () => HistoryStore) {
  describe(`${name}: history contract`, () => {
    it('records events and reads them back, every field intact, oldest first', async () => {
      const h = make();
      const events: HistoryEvent[] = [
        { type: 'ready', pool: 'ci', at: T0 + 30, instance: 'ci-a', durationMs: 41_000 },
        { type: 'claim_miss', pool: 'ci', at: T0 + 10, instance: 'ci-b', count: 1 },
        { type: 'teardown', pool: 'ci', at: T0 + 40, instance: 'ci-b', reason: 'released' },
        { type: 'claim_miss', pool: 'ci', at: T0 + 20, count: 3 },
      ];
      for (const e of events) await h.record(e);
      const got = await h.since('ci', T0);
      expect(got).toEqual([...events].sort((a, b) => a.at - b.at));
    });

    it('an event without optional fields reads back without them', async () => {
      const h = make();
      await h.record({ type: 'claim_miss', pool: 'web', at: T0 });
      const [e] = await h.since('web', T0);
      expect(e).toEqual({ type: 'claim_miss', pool: 'web', at: T0 });
      expect(Object.keys(e!).sort()).toEqual(['at', 'pool', 'type']);
    });

    it('since is inclusive of its bound and excludes older events', async () => {
      const h = make();
      for (const at of [T0 - 1, T0, T0 + 1]) await h.record({ type: 'claim_miss', pool: 'ci', at, count: 1 });
      expect((await h.since('ci', T0)).map((e) => e.at)).toEqual([T0, T0 + 1]);
      expect(await h.since('ci', T0 + 2)).toEqual([]);
    });

    it('filters by pool; null means every pool', async () => {
      const h = make();
      await h.record({ type: 'claim_miss', pool: 'ci', at: T0 + 1, count: 1 });
      await h.record({ type: 'claim_miss', pool: 'web', at: T0 + 2, count: 2 });
      await h.record({ type: 'teardown', pool: 'ci', at: T0 + 3, instance: 'x', reason: 'max_idle' });
      expect((await h.since('ci', T0)).map((e) => e.at)).toEqual([T0 + 1, T0 + 3]);
      expect((await h.since('web', T0)).map((e) => e.count)).toEqual([2]);
      expect(await h.since('nope', T0)).toEqual([]);
      expect((await h.since(null, T0)).map((e) => e.pool)).toEqual(['ci', 'web', 'ci']);
    });

    it('concurrent records are all kept (no shared document)', async () => {
      const h = make();
      await Promise.all(Array.from({ length: 25 }, (_, i) => h.record({ type: 'claim_miss', pool: 'ci', at: T0 + i, instance: `m-${i}`, count: 1 })));
      const got = await h.since('ci', T0);
      expect(got).toHaveLength(25);
      expect(new Set(got.map((e) => e.instance)).size).toBe(25);
    });
  });
}
