/** Assignments: the pure changes (table-driven) and reconcile's access sync over fakes. */
import { describe, expect, it } from 'vitest';
import { accessApplied, changedAssignment, editSshKeys, pendingKeyChange, renewedAssignment } from '../../shared/domain/assignment.js';
import { claimedRecord } from '../../shared/domain/instance.js';
import { MemoryInstanceStore } from '../../shared/adapters/memory-store.js';
import { MemoryAssignmentStore } from '../../shared/adapters/memory-assignments.js';
import { syncClaimAccess } from '../../shared/services/claim-access.js';
import { memoryLogger } from '../../shared/logging.js';
import type { ReconcileDeps } from '../../shared/services/reconcile.js';
import { sshKeysMetadata } from '../../shared/adapters/gce-resources.js';
import { FakeCompute } from '../support/fake-compute.js';
import { record, spec } from '../support/builders.js';

const T0 = 1_700_000_000_000;
const ADMIN = 'admin:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAdminAdminAdminAdminAdminAdminAdminAdminAd warmer-admin';
const ADA = 'ada:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaA ada@laptop';
const BOB = 'bob:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBobBobBobBobBobBobBobBobBobBobBobBobBobBobBo bob@laptop';

const claimed = (over: { sshKeys?: string[]; lifetimeSeconds?: number | null } = {}) =>
  claimedRecord(record({ pool: 'p', state: 'ready', at: T0 }), {
    principal: 'ci',
    requestId: 'r',
    assignee: 'ada',
    labels: {},
    sshKeys: over.sshKeys ?? [ADA],
    lifetimeSeconds: over.lifetimeSeconds === undefined ? 600 : over.lifetimeSeconds,
    now: T0,
  });

describe('editSshKeys', () => {
  it.each([
    ['adds after the admin key', ADMIN, [ADA], [], `${ADMIN}\n${ADA}`],
    ['adds to nothing', '', [ADA], [], ADA],
    ['never twice (same key, other comment)', `${ADMIN}\n${ADA.replace('ada@laptop', 'old')}`, [ADA], [], `${ADMIN}\n${ADA}`],
    ['swaps an assignee, the admin key stays', `${ADMIN}\n${ADA}`, [BOB], [ADA], `${ADMIN}\n${BOB}`],
    ['removes only what it was told', `${ADMIN}\n${ADA}\n${BOB}`, [], [ADA], `${ADMIN}\n${BOB}`],
    ['a key both removed and added stays', `${ADMIN}\n${ADA}`, [ADA], [ADA], `${ADMIN}\n${ADA}`],
  ])('%s', (_name, value, add, remove, want) => {
    expect(editSshKeys(value, add, remove)).toBe(want);
  });

  it('setMetadata keeps every other item and sends the fingerprint it read; no change → null', () => {
    const current = {
      fingerprint: 'fp1',
      items: [
        { key: 'startup-script', value: 'echo hi' },
        { key: 'ssh-keys', value: ADMIN },
      ],
    };
    expect(sshKeysMetadata(current, { add: [ADA], remove: [] })).toEqual({
      fingerprint: 'fp1',
      items: [
        { key: 'startup-script', value: 'echo hi' },
        { key: 'ssh-keys', value: `${ADMIN}\n${ADA}` },
      ],
    });
    expect(sshKeysMetadata({ fingerprint: 'f', items: [] }, { add: [ADA], remove: [] })).toEqual({
      fingerprint: 'f',
      items: [{ key: 'ssh-keys', value: ADA }],
    });
    expect(sshKeysMetadata({ fingerprint: 'f', items: [{ key: 'ssh-keys', value: `${ADMIN}\n${ADA}` }] }, { add: [ADA], remove: [] })).toBeNull();
  });
});

describe('assignment changes', () => {
  it('extend, set, clear the expiry; refuse the past, more than a year, or a non-claimed machine', () => {
    const r = claimed();
    const by = changedAssignment(r, { extendBySeconds: 60 }, T0 + 1);
    expect(by.ok && by.record.claim!.expiresAt).toBe(T0 + 660_000);
    const to = changedAssignment(r, { expiresAt: T0 + 86400_000 }, T0 + 1);
    expect(to.ok && to.record.claim!.expiresAt).toBe(T0 + 86400_000);
    const none = changedAssignment(r, { expiresAt: null }, T0 + 1);
    expect(none.ok && none.record.claim!.expiresAt).toBeNull();
    expect(changedAssignment(r, { expiresAt: T0 }, T0 + 1)).toMatchObject({ ok: false, code: 'bad_request' });
    expect(changedAssignment(r, { expiresAt: T0 + 400 * 86400_000 }, T0 + 1)).toMatchObject({ ok: false, code: 'bad_request' });
    expect(changedAssignment({ ...r, state: 'deleting' }, { extendBySeconds: 5 }, T0)).toMatchObject({ ok: false, code: 'conflict' });
    expect(changedAssignment(claimed({ lifetimeSeconds: null }), { extendBySeconds: 5 }, T0)).toMatchObject({ ok: false, code: 'bad_request' });
  });

  it('reassign revokes the old keys (also not-yet-removed ones) and moves the version', () => {
    const r = claimed();
    const toBob = changedAssignment(r, { reassign: { assignee: 'bob', sshKeys: [BOB] } }, T0);
    if (!toBob.ok) throw new Error('refused');
    expect(toBob.record.claim).toMatchObject({ assignee: 'bob', sshKeys: [BOB], access: { state: 'pending', version: 2, revoke: [ADA] } });
    const toCy = changedAssignment(toBob.record, { reassign: { assignee: 'cy', sshKeys: [] } }, T0);
    if (!toCy.ok) throw new Error('refused');
    expect(toCy.record.claim!.access).toMatchObject({ version: 3, revoke: [BOB, ADA] });
    expect(pendingKeyChange(toCy.record)).toEqual({ add: [], remove: [BOB, ADA], version: 3 });
    // Back to Ada with her key: it is added, not revoked.
    const back = changedAssignment(toBob.record, { reassign: { assignee: 'ada', sshKeys: [ADA] } }, T0);
    expect(back.ok && back.record.claim!.access!.revoke).toEqual([BOB]);
  });

  it('renew: one lifetime from now; none without a lifetime', () => {
    const r = renewedAssignment(claimed({ lifetimeSeconds: 30 }), T0 + 25_000);
    expect(r.ok && r.record.claim!.expiresAt).toBe(T0 + 55_000);
    expect(renewedAssignment(claimed({ lifetimeSeconds: null }), T0)).toMatchObject({ ok: false, code: 'conflict' });
    // Older records without lifetimeSeconds: what the first expiry implied.
    const old = claimed({ lifetimeSeconds: 30 });
    delete old.claim!.lifetimeSeconds;
    const renewed = renewedAssignment(old, T0 + 10_000);
    expect(renewed.ok && renewed.record.claim!.expiresAt).toBe(T0 + 40_000);
  });

  it('applied only for the version that was applied', () => {
    const r = claimed();
    expect(accessApplied(r, 2, T0)).toBeNull();
    expect(accessApplied(r, 1, T0 + 5)!.claim!.access).toEqual({ state: 'applied', version: 1, revoke: [], appliedAt: T0 + 5 });
    expect(pendingKeyChange(accessApplied(r, 1, T0 + 5)!)).toBeNull();
  });
});

describe('syncClaimAccess', () => {
  async function setup() {
    const instances = new MemoryInstanceStore();
    const assignments = new MemoryAssignmentStore(instances);
    const compute = new FakeCompute();
    const m = await compute.createMachine({ pool: 'p', spec: spec(), name: 'p-1', zone: 'us-central1-a', requestId: 'x' });
    compute.sshKeys.set(m.name, ADMIN);
    const r = claimedRecord(
      { ...record({ pool: 'p', state: 'ready', name: m.name }) },
      { principal: 'ci', requestId: 'r', assignee: 'ada', labels: {}, sshKeys: [ADA], lifetimeSeconds: null, now: T0 },
    );
    await instances.create(r);
    const deps = { compute, assignments, clock: { now: () => T0 + 9 } } as unknown as ReconcileDeps;
    return { instances, assignments, compute, deps, m };
  }

  it('adds the keys next to the admin key and marks the record applied', async () => {
    const { instances, compute, deps, m } = await setup();
    expect(await syncClaimAccess(deps, await instances.listByPool('p'), [m], memoryLogger())).toBe(1);
    expect(compute.sshKeys.get(m.name)).toBe(`${ADMIN}\n${ADA}`);
    expect((await instances.get(m.name))!.claim!.access).toMatchObject({ state: 'applied', appliedAt: T0 + 9 });
    // Nothing pending: nothing done.
    expect(await syncClaimAccess(deps, await instances.listByPool('p'), [m], memoryLogger())).toBe(0);
  });

  it('a failed update stays pending (next pass retries); a reassignment made meanwhile stays pending', async () => {
    const { instances, assignments, compute, deps, m } = await setup();
    compute.failSshKeys = ['transient'];
    const log = memoryLogger();
    expect(await syncClaimAccess(deps, await instances.listByPool('p'), [m], log)).toBe(0);
    expect((await instances.get(m.name))!.claim!.access!.state).toBe('pending');
    const seen = await instances.listByPool('p');
    await assignments.modify(m.name, (r) => {
      const o = changedAssignment(r, { reassign: { assignee: 'bob', sshKeys: [BOB] } }, T0);
      return o.ok ? o.record : null;
    });
    // This pass saw the old version: it applies Ada's key but cannot mark Bob's applied.
    expect(await syncClaimAccess(deps, seen, [m], log)).toBe(0);
    expect((await instances.get(m.name))!.claim!.access).toMatchObject({ state: 'pending', version: 2 });
    expect(await syncClaimAccess(deps, await instances.listByPool('p'), [m], log)).toBe(1);
    expect(compute.sshKeys.get(m.name)).toBe(`${ADMIN}\n${BOB}`);
  });
});

describe('the status page: claimed machines', () => {
  it('lists claimed machines longest-held first, with assignee, expiry, address and access', async () => {
    const { buildDashboard } = await import('../../shared/services/dashboard.js');
    const { MemoryPoolStore } = await import('../../shared/adapters/memory-store.js');
    const instances = new MemoryInstanceStore();
    const pools = new MemoryPoolStore();
    await pools.putPool('p', spec(), T0);
    await instances.create(record({ pool: 'p', state: 'ready', at: T0 }));
    const a = claimedRecord(record({ pool: 'p', state: 'ready', at: T0 }), {
      principal: 'ci',
      requestId: 'a',
      assignee: 'ada',
      labels: {},
      sshKeys: [ADA],
      lifetimeSeconds: 60,
      now: T0 + 500,
    });
    const b = claimedRecord(record({ pool: 'p', state: 'ready', at: T0 }), {
      principal: 'ci',
      requestId: 'b',
      assignee: null,
      labels: {},
      lifetimeSeconds: null,
      now: T0 + 100,
    });
    await instances.create(a);
    await instances.create(b);
    const deps = { pools, instances, assignments: new MemoryAssignmentStore(instances), clock: { now: () => T0 + 1000 }, logger: memoryLogger() };
    const d = await buildDashboard(deps);
    expect(d.assignments).toEqual([
      { name: b.name, pool: 'p', assignee: null, principal: 'ci', claimedAt: T0 + 100, expiresAt: null, address: b.ip, access: null },
      { name: a.name, pool: 'p', assignee: 'ada', principal: 'ci', claimedAt: T0 + 500, expiresAt: T0 + 60_500, address: a.ip, access: 'pending' },
    ]);
    // Without an assignment store the section is absent (null), the rest of the page unchanged.
    expect((await buildDashboard({ pools, instances, clock: deps.clock, logger: deps.logger })).assignments).toBeNull();
  });
});
