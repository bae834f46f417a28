/**
 * The assignment store contract: the Firestore store (embedded emulator) and the
 * in-memory one both pass it — listing with filters and pages, and modify as a
 * compare-and-set over the same records the instance store writes.
 */
import { describe, expect, it } from 'vitest';
import type { AssignmentStore, InstanceStore } from '../../../shared/ports.js';
import { accessApplied, changedAssignment } from '../../../shared/domain/assignment.js';
import { record } from '../../support/builders.js';

let poolSeq = 0;
const freshPool = () => `apool-${process.pid}-${++poolSeq}-${Math.floor(Math.random() * 1e6)}`;
const T0 = 1_700_000_000_000;
const ADA = 'ada:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaA ada@laptop';
const BOB = 'bob:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBobBobBobBobBobBobBobBobBobBobBobBobBobBobBo bob@laptop';

export function assignmentContract(name: string, make: () => { instances: InstanceStore; assignments: AssignmentStore }) {
  describe(`${name}: assignment store contract`, () => {
    async function claimedFixture() {
      const { instances, assignments } = make();
      const pool = freshPool();
      for (let i = 0; i < 5; i++) await instances.create(record({ pool, state: 'ready', at: T0 + i }));
      await instances.create(record({ pool, state: 'booting' }));
      const a = await instances.claim({
        pool,
        principal: 'ci',
        requestId: 'a',
        assignee: 'ada',
        labels: {},
        sshKeys: [ADA],
        count: 2,
        lifetimeSeconds: 600,
        now: T0 + 10,
      });
      const b = await instances.claim({
        pool,
        principal: 'deployer',
        requestId: 'b',
        assignee: 'bob',
        labels: {},
        count: 1,
        lifetimeSeconds: null,
        now: T0 + 11,
      });
      if (a.kind !== 'claimed' || b.kind !== 'claimed') throw new Error('fixture claims failed');
      return { instances, assignments, pool, ada: a.instances, bob: b.instances };
    }

    it('a claim with keys records them and access pending; the lifetime is kept for renewals', async () => {
      const { ada, bob } = await claimedFixture();
      expect(ada[0]!.claim).toMatchObject({ sshKeys: [ADA], lifetimeSeconds: 600, access: { state: 'pending', version: 1, revoke: [], appliedAt: null } });
      expect(bob[0]!.claim).toMatchObject({ sshKeys: [], access: null, expiresAt: null });
    });

    it('lists by pool, state, assignee and principal, names ascending', async () => {
      const { assignments, pool, ada, bob } = await claimedFixture();
      const all = await assignments.list({ pool, limit: 100 });
      expect(all.records.map((r) => r.name)).toEqual([...all.records.map((r) => r.name)].sort());
      expect(all.records).toHaveLength(6);
      expect(all.next).toBeNull();
      const claimed = await assignments.list({ pool, states: ['claimed'], limit: 100 });
      expect(claimed.records.map((r) => r.name).sort()).toEqual([...ada, ...bob].map((r) => r.name).sort());
      expect((await assignments.list({ pool, states: ['ready', 'booting'], limit: 100 })).records.map((r) => r.state).sort()).toEqual([
        'booting',
        'ready',
        'ready',
      ]);
      expect((await assignments.list({ pool, assignee: 'bob', limit: 100 })).records.map((r) => r.name)).toEqual([bob[0]!.name]);
      expect((await assignments.list({ pool, principal: 'ci', limit: 100 })).records.map((r) => r.name).sort()).toEqual(ada.map((r) => r.name).sort());
      expect((await assignments.list({ pool, principal: 'nobody', limit: 100 })).records).toEqual([]);
      expect((await assignments.list({ pool: freshPool(), limit: 100 })).records).toEqual([]);
    });

    it('pages: every record exactly once, in order, then no next', async () => {
      const { assignments, pool } = await claimedFixture();
      const seen: string[] = [];
      let after: string | undefined;
      for (let page = 0; page < 10; page++) {
        const res = await assignments.list({ pool, limit: 4, ...(after ? { after } : {}) });
        expect(res.records.length).toBeLessThanOrEqual(4);
        seen.push(...res.records.map((r) => r.name));
        if (!res.next) break;
        after = res.next;
      }
      expect(seen).toHaveLength(6);
      expect(new Set(seen).size).toBe(6);
      expect(seen).toEqual([...seen].sort());
    });

    it('modify writes what the change returns, compare-and-set; null leaves the record', async () => {
      const { instances, assignments, ada } = await claimedFixture();
      const name = ada[0]!.name;
      expect(await assignments.modify('no-such-machine', (r) => r)).toBeNull();
      const unchanged = await assignments.modify(name, () => null);
      expect(unchanged!.after).toBeNull();
      expect(await instances.get(name)).toEqual(ada[0]);
      const res = await assignments.modify(name, (r) => {
        const o = changedAssignment(r, { reassign: { assignee: 'bob', sshKeys: [BOB] } }, T0 + 20);
        return o.ok ? o.record : null;
      });
      expect(res!.before).toEqual(ada[0]);
      expect(res!.after!.claim).toMatchObject({ assignee: 'bob', sshKeys: [BOB], access: { state: 'pending', version: 2, revoke: [ADA] } });
      expect(await instances.get(name)).toEqual(res!.after);
      // An apply of the old version does not mark the new keys applied.
      expect((await assignments.modify(name, (r) => accessApplied(r, 1, T0 + 30)))!.after).toBeNull();
      const applied = await assignments.modify(name, (r) => accessApplied(r, 2, T0 + 31));
      expect(applied!.after!.claim!.access).toEqual({ state: 'applied', version: 2, revoke: [], appliedAt: T0 + 31 });
      // Filters see the reassignment.
      expect((await assignments.list({ assignee: 'bob', pool: ada[0]!.pool, limit: 10 })).records.map((r) => r.name)).toContain(name);
    });

    it('concurrent modifications of one record: none is lost', async () => {
      const { assignments, bob } = await claimedFixture();
      const name = bob[0]!.name;
      await Promise.all(
        Array.from({ length: 5 }, () =>
          assignments.modify(name, (r) => ({ ...r, claim: { ...r.claim!, labels: { ...r.claim!.labels, [`k${Object.keys(r.claim!.labels).length}`]: 'x' } } })),
        ),
      );
      const after = await assignments.list({ pool: bob[0]!.pool, assignee: 'bob', limit: 10 });
      expect(Object.keys(after.records[0]!.claim!.labels)).toHaveLength(5);
    });
  });
}
