/**
 * The reconcile service over in-memory stores, a fake Compute Engine and a fake prober,
 * with a fake clock: outcomes (records, machines, messages), not call order.
 */
import { describe, expect, it } from 'vitest';
import { MemoryInstanceStore, MemoryPoolStore, linkedMemoryStores } from '../../shared/adapters/memory-store.js';
import { memoryLogger } from '../../shared/logging.js';
import { DEFAULT_SETTINGS, reconcilePool, reconcileAll, type ReconcileDeps } from '../../shared/services/reconcile.js';
import type { PoolSpecInput } from '../../shared/domain/pool-spec.js';
import { MemoryHistoryStore } from '../../shared/adapters/memory-history.js';
import { FakeCompute, FakeProber } from '../support/fake-compute.js';
import { FakePublisher } from '../support/fake-publisher.js';
import { record, spec } from '../support/builders.js';

async function setup(overrides: Partial<PoolSpecInput> = {}) {
  let now = 1_800_000_000_000;
  const logger = memoryLogger();
  const deps: ReconcileDeps & { compute: FakeCompute; prober: FakeProber; publisher: FakePublisher; instances: MemoryInstanceStore } = {
    pools: new MemoryPoolStore(),
    ...linkedMemoryStores(),
    compute: new FakeCompute(),
    prober: new FakeProber(),
    publisher: new FakePublisher(),
    clock: { now: () => now },
    logger,
    settings: { ...DEFAULT_SETTINGS, sshKeyPassphrase: 'local passphrase' },
  };
  await deps.pools.putPool('ci', spec({ targetReady: 3, maxSize: 6, zones: ['us-central1-a', 'us-central1-b'], ...overrides }), now);
  const advance = (ms: number) => (now += ms);
  const counts = async () => deps.instances.countByState('ci');
  return { deps, advance, counts, logger, now: () => now };
}

describe('reconcilePool', () => {
  it('fills an empty pool, spread over zones; booting machines become ready on a good probe', async () => {
    const { deps, advance, counts } = await setup();
    const first = await reconcilePool(deps, 'ci');
    expect(first).toMatchObject({ outcome: 'done', created: 3 });
    expect((await counts()).booting).toBe(3);
    expect(new Set([...deps.compute.machines.values()].map((m) => m.zone))).toEqual(new Set(['us-central1-a', 'us-central1-b']));
    advance(5000);
    await reconcilePool(deps, 'ci');
    expect(await counts()).toMatchObject({ ready: 3, booting: 0 });
    expect(deps.compute.machines.size).toBe(3);
  });

  it('never over-creates: booting machines count, and overlapping passes are kept apart by the lease', async () => {
    const { deps } = await setup();
    const outs = await Promise.all([reconcilePool(deps, 'ci'), reconcilePool(deps, 'ci'), reconcilePool(deps, 'ci')]);
    expect(outs.filter((o) => o.outcome === 'skipped_lease').length).toBeGreaterThanOrEqual(1);
    await reconcilePool(deps, 'ci');
    expect(deps.compute.machines.size).toBe(3);
  });

  it('a failed listing stops the pass: nothing created, nothing deleted', async () => {
    const { deps } = await setup();
    deps.compute.listFails = true;
    expect((await reconcilePool(deps, 'ci')).outcome).toBe('inventory_failed');
    expect(deps.compute.machines.size).toBe(0);
    expect(deps.instances.records.size).toBe(0);
  });

  it('a stocked-out zone is marked cold and creations go to another zone', async () => {
    const { deps } = await setup();
    deps.compute.stockedOut.add('us-central1-a');
    await reconcilePool(deps, 'ci');
    const zones = [...deps.compute.machines.values()].map((m) => m.zone);
    expect(zones).toEqual(['us-central1-b', 'us-central1-b', 'us-central1-b']);
    expect(Object.keys((await deps.runtime.getRuntime('ci')).coldZones)).toEqual(['us-central1-a']);
    // the failed attempts left no live record behind
    expect((await deps.instances.countByState('ci')).creating).toBe(0);
  });

  it('a quota limit caps the pool and logs an ERROR', async () => {
    const { deps, logger } = await setup({ targetReady: 5, maxSize: 8 });
    deps.compute.quota['us-central1'] = { instances: 2 };
    await reconcilePool(deps, 'ci');
    expect(deps.compute.machines.size).toBe(2);
    await reconcilePool(deps, 'ci');
    expect(deps.compute.machines.size).toBe(2);
    expect(logger.entries.some((e) => e.severity === 'WARNING' || e.severity === 'ERROR')).toBe(true);
    // ERROR exactly, for the cap, with the headroom that caused it (not a WARNING).
    const capped = logger.entries.filter((e) => e.message === 'create capped by quota');
    expect(capped.map((e) => [e.severity, e.want, e.headroom])).toEqual([
      ['ERROR', 5, 2],
      ['ERROR', 3, 0],
    ]);
  });

  it('a failing image backs the pool off instead of looping', async () => {
    const { deps, advance, logger } = await setup();
    deps.compute.failCreates = Array(100).fill('operation_failed');
    await reconcilePool(deps, 'ci');
    const afterFirst = 100 - deps.compute.failCreates.length;
    expect(afterFirst).toBe(3);
    expect((await deps.runtime.getRuntime('ci')).breaker.openUntil).not.toBeNull();
    advance(10_000);
    await reconcilePool(deps, 'ci');
    expect(100 - deps.compute.failCreates.length).toBe(3); // open: no attempts
    advance(60_000);
    await reconcilePool(deps, 'ci');
    expect(100 - deps.compute.failCreates.length).toBe(4); // half-open: one try
    expect(logger.entries.some((e) => e.severity === 'ERROR' && e.message === 'creates keep failing; pool backs off')).toBe(true);
    expect(deps.compute.machines.size).toBe(0);
  });

  it('an insert refused as "not found" (missing image or network) closes the record and counts against the breaker', async () => {
    const { deps, counts } = await setup();
    deps.compute.failCreates = Array(3).fill('not_found');
    await reconcilePool(deps, 'ci');
    expect(await counts()).toMatchObject({ creating: 0, booting: 0 });
    expect([...deps.instances.records.values()].map((r) => [r.state, r.reason])).toEqual(Array(3).fill(['deleted', 'create_failed:not_found']));
    expect((await deps.runtime.getRuntime('ci')).breaker.openUntil).not.toBeNull();
  });

  it('half-open makes exactly one probe create, and the breaker closes only when that machine is ready', async () => {
    const { deps, advance, counts, logger } = await setup();
    deps.compute.failCreates = Array(3).fill('operation_failed');
    deps.prober.healthyByDefault = false; // the probe machine boots slowly
    await reconcilePool(deps, 'ci');
    advance(31_000);
    await reconcilePool(deps, 'ci'); // half-open: the one probe
    expect(deps.compute.machines.size).toBe(1);
    for (let i = 0; i < 3; i++) {
      advance(10_000);
      await reconcilePool(deps, 'ci'); // the probe is booting: nothing more
    }
    expect(deps.compute.machines.size).toBe(1);
    expect((await deps.runtime.getRuntime('ci')).breaker.openUntil).not.toBeNull();
    deps.prober.healthyByDefault = true;
    advance(10_000);
    await reconcilePool(deps, 'ci'); // the probe is ready: closed
    expect((await deps.runtime.getRuntime('ci')).breaker.openUntil).toBeNull();
    expect(logger.entries.some((e) => e.message === 'pool breaker closed: a machine reached ready')).toBe(true);
    advance(5_000);
    await reconcilePool(deps, 'ci'); // and the pool fills
    expect(deps.compute.machines.size).toBe(3);
    advance(5_000);
    await reconcilePool(deps, 'ci');
    expect(await counts()).toMatchObject({ ready: 3 });
  });

  it('a PUT that changes the image resets an open breaker: the next pass fills the pool', async () => {
    const { deps, advance, now, logger } = await setup({ image: 'projects/p/global/images/broken' });
    deps.compute.failCreates = Array(3).fill('not_found');
    await reconcilePool(deps, 'ci');
    expect((await deps.runtime.getRuntime('ci')).breaker.openUntil).toBeGreaterThan(now());
    advance(5_000);
    await reconcilePool(deps, 'ci');
    expect(deps.compute.machines.size).toBe(0); // open
    await deps.pools.putPool(
      'ci',
      spec({ targetReady: 3, maxSize: 6, zones: ['us-central1-a', 'us-central1-b'], image: 'projects/p/global/images/fixed' }),
      now(),
    );
    advance(1_000);
    await reconcilePool(deps, 'ci');
    expect(deps.compute.machines.size).toBe(3);
    expect(logger.entries.some((e) => e.message === 'pool breaker reset: image or machine type changed')).toBe(true);
    expect((await deps.runtime.getRuntime('ci')).breaker.openUntil).toBeNull();
  });

  it("reads the quota (for the pool's machine type) only when the pass creates something", async () => {
    const { deps, advance } = await setup({ machineType: 'n2-standard-2' });
    await reconcilePool(deps, 'ci');
    expect(deps.compute.quotaReads).toEqual([{ region: 'us-central1', machineType: 'n2-standard-2' }]);
    for (let i = 0; i < 3; i++) {
      advance(5_000);
      await reconcilePool(deps, 'ci'); // booting, then full: nothing to create
    }
    expect(deps.compute.quotaReads).toHaveLength(1);
  });

  it('logs "machine ready" with pool, instance and durationMs (the time-to-ready metric)', async () => {
    const { deps, advance, logger } = await setup({ targetReady: 1 });
    await reconcilePool(deps, 'ci');
    advance(7_000);
    await reconcilePool(deps, 'ci');
    const ready = logger.entries.filter((e) => e.message === 'machine ready');
    expect(ready).toEqual([expect.objectContaining({ severity: 'INFO', pool: 'ci', instance: [...deps.compute.machines.keys()][0], durationMs: 7_000 })]);
  });

  it('replaces a ready machine that stops answering; never touches a claimed one that does', async () => {
    const { deps, advance, counts } = await setup({ targetReady: 2, healthCheck: { failuresBeforeUnhealthy: 2 } });
    await reconcilePool(deps, 'ci');
    advance(1000);
    await reconcilePool(deps, 'ci');
    const [a, b] = await deps.instances.listByPool('ci', ['ready']);
    await deps.instances.transition(b!.name, ['ready'], 'claimed', 1, {
      claim: { principal: 'p', requestId: 'r', assignee: null, labels: {}, claimedAt: 1, expiresAt: null },
    });
    for (const r of [a!, b!]) deps.prober.answers.set(r.ip!, { ok: false, durationMs: 2000, reason: 'timed_out', detail: 'no banner' });
    for (let i = 0; i < 4; i++) {
      advance(10_000);
      await reconcilePool(deps, 'ci');
    }
    expect((await deps.instances.get(a!.name))!.state).toBe('deleting');
    expect(deps.publisher.teardowns.map((t) => [t.instance, t.reason])).toContainEqual([a!.name, 'unhealthy']);
    expect((await deps.instances.get(b!.name))!.state).toBe('claimed');
    expect((await counts()).ready + (await counts()).booting).toBe(2);
  });

  it('deletes an orphan after the grace period, and closes + replaces a record whose machine vanished', async () => {
    const { deps, advance, now } = await setup({ targetReady: 1 });
    const history = new MemoryHistoryStore();
    deps.history = history;
    await reconcilePool(deps, 'ci');
    advance(1000);
    await reconcilePool(deps, 'ci');
    const [ready] = await deps.instances.listByPool('ci', ['ready']);
    deps.compute.machines.delete(ready!.name);
    deps.compute.machines.set('ci-orphan', {
      name: 'ci-orphan',
      zone: 'us-central1-a',
      status: 'RUNNING',
      ip: '127.9.9.9',
      publicIp: null,
      labels: { 'warmer-pool': 'ci', 'warmer-managed': 'true', warmth: 'warmed' },
      labelFingerprint: 'x',
      createdAt: now(),
      requestId: 'x',
    });
    await reconcilePool(deps, 'ci');
    expect((await deps.instances.get(ready!.name))!.state).toBe('deleted');
    // the vanished machine shows among the pool's teardowns, with why
    expect(history.events.filter((e) => e.type === 'teardown').map((e) => [e.instance, e.reason])).toEqual([[ready!.name, 'machine_gone']]);
    expect(deps.compute.machines.has('ci-orphan')).toBe(true); // young: left alone
    advance(DEFAULT_SETTINGS.orphanGraceMs + 1000);
    await reconcilePool(deps, 'ci');
    expect(deps.compute.machines.has('ci-orphan')).toBe(false);
    expect((await deps.instances.countByState('ci')).ready).toBe(1);
  });

  it('closes a deleting record whose machine is already gone, keeping the teardown reason, recorded once', async () => {
    const { deps, now } = await setup({ targetReady: 0 });
    const history = new MemoryHistoryStore();
    deps.history = history;
    const r = record({ pool: 'ci', state: 'deleting', at: now() - 5_000 });
    r.reason = 'released';
    await deps.instances.create(r);
    await reconcilePool(deps, 'ci');
    expect(await deps.instances.get(r.name)).toMatchObject({ state: 'deleted', reason: 'released' });
    await reconcilePool(deps, 'ci');
    expect(history.events.map((e) => [e.type, e.instance, e.reason])).toEqual([['teardown', r.name, 'released']]);
  });

  it('pools that issue per-machine keys store the private key encrypted and install the public half', async () => {
    const { deps } = await setup({ targetReady: 1, perMachineSshKeys: true });
    await reconcilePool(deps, 'ci');
    const [r] = await deps.instances.listByPool('ci');
    expect(r!.sshPrivateKeyEncrypted).toContain('Proc-Type: 4,ENCRYPTED');
    expect(r!.sshPublicKeyEntry).toMatch(/^travis:ssh-rsa /);
  });

  it('labels claimed machines asynchronously (warmth=claimed, assignee)', async () => {
    const { deps, advance } = await setup({ targetReady: 1 });
    await reconcilePool(deps, 'ci');
    advance(1000);
    await reconcilePool(deps, 'ci');
    const [r] = await deps.instances.listByPool('ci', ['ready']);
    await deps.instances.transition(r!.name, ['ready'], 'claimed', 1, {
      claim: { principal: 'p', requestId: 'r', assignee: 'Ada@Example.com', labels: {}, claimedAt: 1, expiresAt: null },
    });
    await reconcilePool(deps, 'ci');
    expect(deps.compute.machines.get(r!.name)!.labels).toMatchObject({ warmth: 'claimed', 'warmer-assignee': 'ada_example_com' });
  });

  it('probes ready machines once per health check interval, booting ones every pass', async () => {
    const { deps, advance } = await setup({ targetReady: 2, healthCheck: { intervalSeconds: 30 } });
    const probed: string[] = [];
    const probeMany = deps.prober.probeMany.bind(deps.prober);
    deps.prober.probeMany = async (targets) => {
      probed.push(...targets.map((t) => t.address));
      return probeMany(targets);
    };
    await reconcilePool(deps, 'ci'); // creates 2 (no address yet when planned: nothing probed)
    advance(1000);
    await reconcilePool(deps, 'ci'); // booting: probed → ready
    expect(probed).toHaveLength(2);
    for (let i = 0; i < 5; i++) {
      advance(10_000); // passes at +11 s … +51 s: ready machines due again only after 30 s
      await reconcilePool(deps, 'ci');
    }
    expect(probed).toHaveLength(2 + 2 * 1); // one more round, at +31 s
    advance(10_000);
    await reconcilePool(deps, 'ci'); // +61 s: due again
    expect(probed).toHaveLength(2 + 2 * 2);
  });

  it('one failing pool does not stop the others', async () => {
    const { deps } = await setup({ targetReady: 1 });
    await deps.pools.putPool('other', spec({ targetReady: 1, zones: ['europe-west4-a'] }), deps.clock.now());
    const original = deps.instances.listByPool.bind(deps.instances);
    deps.instances.listByPool = async (pool, states) => {
      if (pool === 'ci') throw new Error('boom');
      return original(pool, states);
    };
    const out = await reconcileAll(deps);
    expect(out.find((o) => o.pool === 'ci')!.outcome).toBe('inventory_failed');
    expect(out.find((o) => o.pool === 'other')!.created).toBe(1);
  });
});
