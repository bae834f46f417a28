/**
 * The store contract: every InstanceStore / PoolStore implementation passes it
 * (the Firestore store against the embedded emulator, the in-memory store).
 */
import { describe, expect, it } from 'vitest';
import type { InstanceStore, PoolRuntimeStore, PoolStore } from '../../../shared/ports.js';
import { emptyRuntime } from '../../../shared/domain/pool-runtime.js';
import { record, spec } from '../../support/builders.js';

export interface StoreUnderTest {
  instances: InstanceStore;
  pools: PoolStore;
  runtime: PoolRuntimeStore;
}

let poolSeq = 0;
const freshPool = () => `pool-${process.pid}-${++poolSeq}-${Math.floor(Math.random() * 1e6)}`;
const T0 = 1_700_000_000_000;

export function storeContract(name: string, make: () => StoreUnderTest) {
  describe(`${name}: store contract`, () => {
    it('creates and reads a record; a second create of the same name conflicts', async () => {
      const { instances } = make();
      const pool = freshPool();
      const r = record({ pool, state: 'creating' });
      await instances.create(r);
      expect(await instances.get(r.name)).toEqual(r);
      await expect(instances.create(r)).rejects.toMatchObject({ code: 'conflict' });
      expect(await instances.get('no-such-instance')).toBeNull();
    });

    it('transition is a compare-and-set on the current state', async () => {
      const { instances } = make();
      const pool = freshPool();
      const r = record({ pool, state: 'booting' });
      await instances.create(r);
      expect(await instances.transition(r.name, ['ready'], 'claimed', T0 + 1)).toBeNull();
      const next = await instances.transition(r.name, ['booting'], 'ready', T0 + 2, { ip: '127.0.9.9' });
      expect(next).toMatchObject({ state: 'ready', ip: '127.0.9.9', updatedAt: T0 + 2 });
      expect(next!.stateChangedAt.ready).toBe(T0 + 2);
      expect(next!.stateChangedAt.booting).toBe(T0);
      expect(await instances.get(r.name)).toEqual(next);
      expect(await instances.transition('missing', ['ready'], 'claimed', T0)).toBeNull();
    });

    it('refuses a move the state machine does not allow, and changes nothing', async () => {
      const { instances } = make();
      const pool = freshPool();
      const r = record({ pool, state: 'claimed' });
      await instances.create(r);
      await expect(instances.transition(r.name, ['claimed'], 'ready', T0 + 1)).rejects.toThrow(/not a transition/);
      expect(await instances.get(r.name)).toEqual(r);
    });

    it('concurrent transitions of one record: exactly one wins', async () => {
      const { instances } = make();
      const pool = freshPool();
      const r = record({ pool, state: 'ready' });
      await instances.create(r);
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => instances.transition(r.name, ['ready'], 'deleting', T0 + i, { reason: `r${i}` })));
      const winners = results.filter((x) => x !== null);
      expect(winners).toHaveLength(1);
      expect((await instances.get(r.name))!.reason).toBe(winners[0]!.reason);
    });

    it('update patches fields only in the allowed states', async () => {
      const { instances } = make();
      const pool = freshPool();
      const r = record({ pool, state: 'ready' });
      await instances.create(r);
      const health = { consecutiveFailures: 2, lastProbeAt: T0 + 5, lastError: 'timed_out' };
      expect(await instances.update(r.name, ['booting'], { health })).toBeNull();
      expect(await instances.update(r.name, ['ready'], { health })).toMatchObject({ state: 'ready', health });
      expect((await instances.get(r.name))!.health).toEqual(health);
    });

    it('lists and counts by pool and state', async () => {
      const { instances } = make();
      const pool = freshPool();
      const other = freshPool();
      for (const state of ['ready', 'ready', 'booting', 'claimed', 'deleted'] as const) await instances.create(record({ pool, state }));
      await instances.create(record({ pool: other, state: 'ready' }));
      expect(await instances.listByPool(pool)).toHaveLength(5);
      expect((await instances.listByPool(pool, ['ready', 'booting'])).map((r) => r.state).sort()).toEqual(['booting', 'ready', 'ready']);
      const counts = await instances.countByState(pool);
      expect(counts).toMatchObject({ ready: 2, booting: 1, claimed: 1, deleted: 1, creating: 0, deleting: 0 });
    });

    it('claims oldest ready first (among the few oldest), stamping the claim', async () => {
      const { instances } = make();
      const pool = freshPool();
      const recs = Array.from({ length: 40 }, (_, i) => record({ pool, state: 'ready', at: T0 + i * 1000 }));
      for (const r of recs) await instances.create(r);
      const out = await instances.claim({
        pool,
        principal: 'alice',
        requestId: 'r1',
        assignee: 'ada',
        labels: { team: 'x' },
        count: 1,
        lifetimeSeconds: 60,
        now: T0 + 99_000,
      });
      expect(out.kind).toBe('claimed');
      if (out.kind !== 'claimed') return;
      const got = out.instances[0]!;
      expect(recs.slice(0, 17).map((r) => r.name)).toContain(got.name); // approximately oldest: among the 17 oldest of 40
      expect(got).toMatchObject({
        state: 'claimed',
        claim: { principal: 'alice', requestId: 'r1', assignee: 'ada', labels: { team: 'x' }, claimedAt: T0 + 99_000, expiresAt: T0 + 159_000 },
      });
      expect(await instances.get(got.name)).toEqual(got);
    });

    it('a multi-machine claim is all or nothing', async () => {
      const { instances } = make();
      const pool = freshPool();
      for (let i = 0; i < 3; i++) await instances.create(record({ pool, state: 'ready' }));
      const out = await instances.claim({ pool, principal: 'alice', requestId: 'big', assignee: null, labels: {}, count: 4, lifetimeSeconds: null, now: T0 });
      expect(out).toEqual({ kind: 'empty', available: 3 });
      expect((await instances.countByState(pool)).ready).toBe(3);
      const ok = await instances.claim({ pool, principal: 'alice', requestId: 'three', assignee: null, labels: {}, count: 3, lifetimeSeconds: null, now: T0 });
      expect(ok.kind === 'claimed' && new Set(ok.instances.map((i) => i.name)).size).toBe(3);
      expect((await instances.countByState(pool)).claimed).toBe(3);
    });

    it('the same request id returns the same machines, never more', async () => {
      const { instances } = make();
      const pool = freshPool();
      for (let i = 0; i < 5; i++) await instances.create(record({ pool, state: 'ready' }));
      const req = { pool, principal: 'alice', requestId: 'same', assignee: null, labels: {}, count: 2, lifetimeSeconds: null, now: T0 };
      const a = await instances.claim(req);
      const b = await instances.claim(req);
      expect(a.kind === 'claimed' && a.replayed).toBe(false);
      expect(b.kind === 'claimed' && b.replayed).toBe(true);
      const names = (o: typeof a) => (o.kind === 'claimed' ? o.instances.map((i) => i.name).sort() : []);
      expect(names(b)).toEqual(names(a));
      expect((await instances.countByState(pool)).claimed).toBe(2);
    });

    it('request ids are scoped per principal: the same id from two principals is two claims', async () => {
      const { instances } = make();
      const pool = freshPool();
      for (let i = 0; i < 3; i++) await instances.create(record({ pool, state: 'ready' }));
      const req = { pool, requestId: 'job-42', assignee: null, labels: {}, count: 1, lifetimeSeconds: null, now: T0 };
      const a = await instances.claim({ ...req, principal: 'alice' });
      const b = await instances.claim({ ...req, principal: 'bob' });
      const again = await instances.claim({ ...req, principal: 'alice' });
      if (a.kind !== 'claimed' || b.kind !== 'claimed' || again.kind !== 'claimed') throw new Error('expected three claims');
      expect([a.replayed, b.replayed, again.replayed]).toEqual([false, false, true]);
      expect(b.instances[0]!.name).not.toBe(a.instances[0]!.name);
      expect(again.instances[0]!.name).toBe(a.instances[0]!.name);
      expect(a.instances[0]!.claim!.principal).toBe('alice');
      expect((await instances.get(b.instances[0]!.name))!.claim!.principal).toBe('bob');
      expect((await instances.countByState(pool)).claimed).toBe(2);
    });

    it.each([
      ['another pool', { pool: 'other-pool' }],
      ['another count', { count: 2 }],
      ['another assignee', { assignee: 'grace' }],
      ['other labels', { labels: { team: 'y' } }],
    ])('a replay asking for %s is a mismatch carrying the original; nothing is claimed', async (_n, change) => {
      const { instances } = make();
      const pool = freshPool();
      for (let i = 0; i < 4; i++) await instances.create(record({ pool, state: 'ready' }));
      const req = { pool, principal: 'alice', requestId: 'fp', assignee: 'ada', labels: { team: 'x', env: 'ci' }, count: 1, lifetimeSeconds: null, now: T0 };
      expect((await instances.claim(req)).kind).toBe('claimed');
      const same = await instances.claim({ ...req, labels: { env: 'ci', team: 'x' } });
      expect(same.kind === 'claimed' && same.replayed).toBe(true);
      const out = await instances.claim({ ...req, ...change, pool: 'pool' in change ? `${pool}-x` : pool });
      expect(out).toEqual({ kind: 'mismatch', original: { pool, count: 1, assignee: 'ada', labels: { team: 'x', env: 'ci' } } });
      expect((await instances.countByState(pool)).claimed).toBe(1);
    });

    it('a top-up replaces named machines in the receipt: a later replay returns the replacement', async () => {
      const { instances } = make();
      const pool = freshPool();
      for (let i = 0; i < 4; i++) await instances.create(record({ pool, state: 'ready', at: T0 + i }));
      const req = { pool, principal: 'alice', requestId: 'topped', assignee: null, labels: {}, count: 2, lifetimeSeconds: null, now: T0 };
      const first = await instances.claim(req);
      if (first.kind !== 'claimed') throw new Error('expected a claim');
      const [keep, bad] = first.instances.map((i) => i.name);
      const top = await instances.claim({ ...req, count: 1, replacing: [bad!] });
      if (top.kind !== 'claimed') throw new Error('expected a top-up');
      expect(top.replayed).toBe(false);
      const replacement = top.instances[0]!.name;
      expect([keep, bad]).not.toContain(replacement);
      expect(top.instances[0]!.claim).toMatchObject({ principal: 'alice', requestId: 'topped' });
      const replay = await instances.claim(req);
      expect(replay.kind === 'claimed' && replay.instances.map((i) => i.name).sort()).toEqual([keep, replacement].sort());
      // A top-up of names the receipt does not hold (or of another principal's id) claims nothing.
      const stray = await instances.claim({ ...req, principal: 'bob', count: 1, replacing: [keep!] });
      expect(stray.kind === 'claimed' && stray.replayed).toBe(true);
      expect((await instances.countByState(pool)).claimed).toBe(3);
    });

    it('claimsSince lists served claims from their receipts: pool, time, machine count; a replay adds none', async () => {
      const { instances } = make();
      const pool = freshPool();
      for (let i = 0; i < 3; i++) await instances.create(record({ pool, state: 'ready' }));
      await instances.claim({ pool, principal: 'alice', requestId: 'one', assignee: null, labels: {}, count: 1, lifetimeSeconds: null, now: T0 + 10 });
      await instances.claim({ pool, principal: 'alice', requestId: 'two', assignee: null, labels: {}, count: 2, lifetimeSeconds: null, now: T0 + 20 });
      await instances.claim({ pool, principal: 'alice', requestId: 'two', assignee: null, labels: {}, count: 2, lifetimeSeconds: null, now: T0 + 30 });
      const mine = (await instances.claimsSince(T0 + 15)).filter((c) => c.pool === pool);
      expect(mine).toEqual([{ pool, at: T0 + 20, count: 2 }]);
      expect((await instances.claimsSince(T0)).filter((c) => c.pool === pool)).toHaveLength(2);
    });

    it('concurrent claimers never get the same machine', async () => {
      const { instances } = make();
      const pool = freshPool();
      for (let i = 0; i < 10; i++) await instances.create(record({ pool, state: 'ready', at: T0 + i }));
      const outs = await Promise.all(
        Array.from({ length: 25 }, (_, i) =>
          instances.claim({ pool, principal: 'alice', requestId: `c${i}`, assignee: null, labels: {}, count: 1, lifetimeSeconds: null, now: T0 + 100 }),
        ),
      );
      const names = outs.flatMap((o) => (o.kind === 'claimed' ? o.instances.map((i) => i.name) : []));
      expect(names).toHaveLength(10);
      expect(new Set(names).size).toBe(10);
      expect(outs.filter((o) => o.kind === 'empty')).toHaveLength(15);
      expect((await instances.countByState(pool)).claimed).toBe(10);
    });

    it('concurrent retries of one request id claim once', async () => {
      const { instances } = make();
      const pool = freshPool();
      for (let i = 0; i < 6; i++) await instances.create(record({ pool, state: 'ready' }));
      const outs = await Promise.all(
        Array.from({ length: 8 }, () =>
          instances.claim({ pool, principal: 'alice', requestId: 'retry-me', assignee: null, labels: {}, count: 1, lifetimeSeconds: null, now: T0 }),
        ),
      );
      const names = new Set(outs.flatMap((o) => (o.kind === 'claimed' ? o.instances.map((i) => i.name) : ['EMPTY'])));
      expect(names.size).toBe(1);
      expect((await instances.countByState(pool)).claimed).toBe(1);
    });

    it('pools: put creates then replaces; get and list', async () => {
      const { pools } = make();
      const name = freshPool();
      const first = await pools.putPool(name, spec({ targetReady: 2 }), T0);
      expect(first.created).toBe(true);
      const second = await pools.putPool(name, spec({ targetReady: 4 }), T0 + 5);
      expect(second).toMatchObject({ created: false, pool: { createdAt: T0, updatedAt: T0 + 5 } });
      expect((await pools.getPool(name))!.spec.targetReady).toBe(4);
      expect((await pools.listPools()).map((p) => p.name)).toContain(name);
      expect(await pools.getPool('no-such-pool')).toBeNull();
    });
    it('pool runtime: one lease holder at a time, expiry, release only by the holder', async () => {
      const { runtime } = make();
      const pool = freshPool();
      expect(await runtime.acquireLease(pool, 'a', T0, 1000)).toBe(true);
      expect(await runtime.acquireLease(pool, 'b', T0 + 10, 1000)).toBe(false);
      expect(await runtime.acquireLease(pool, 'a', T0 + 10, 1000)).toBe(true);
      await runtime.releaseLease(pool, 'b');
      expect(await runtime.acquireLease(pool, 'b', T0 + 20, 1000)).toBe(false);
      expect(await runtime.acquireLease(pool, 'b', T0 + 2000, 1000)).toBe(true);
      await runtime.releaseLease(pool, 'b');
      const both = await Promise.all([runtime.acquireLease(pool, 'x', T0 + 3000, 1000), runtime.acquireLease(pool, 'y', T0 + 3000, 1000)]);
      expect(both.filter(Boolean)).toHaveLength(1);
    });

    it('pool runtime: saved state round-trips and survives lease changes', async () => {
      const { runtime } = make();
      const pool = freshPool();
      expect(await runtime.getRuntime(pool)).toEqual(emptyRuntime());
      const state = { coldZones: { 'us-central1-a': T0 + 60_000 }, breaker: { consecutiveFailures: 2, openUntil: null }, lastPass: null };
      await runtime.saveRuntime(pool, state);
      await runtime.acquireLease(pool, 'a', T0, 1000);
      await runtime.releaseLease(pool, 'a');
      expect(await runtime.getRuntime(pool)).toEqual(state);
    });
  });
}
