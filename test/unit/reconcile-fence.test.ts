/**
 * Issue 10 item 1: a stale pass must never break maxSize. A pass hangs on an orphan
 * delete (and on an insert) past its lease; a second pass runs; the machine count is
 * sampled after every Compute Engine call and every step. Fake clock throughout: the
 * lease heartbeat runs on it (FakeClock.after fires as the clock is advanced).
 */
import { describe, expect, it } from 'vitest';
import { linkedMemoryStores, MemoryPoolStore } from '../../shared/adapters/memory-store.js';
import { memoryLogger } from '../../shared/logging.js';
import { DEFAULT_SETTINGS, reconcilePool, type PassSummary, type ReconcileDeps } from '../../shared/services/reconcile.js';
import type { CreateMachineRequest, Machine } from '../../shared/domain/machine.js';
import { FakeCompute, FakeProber } from '../support/fake-compute.js';
import { FakePublisher } from '../support/fake-publisher.js';
import { FakeClock } from '../support/fake-clock.js';
import { spec } from '../support/builders.js';

const LEASE = 120_000;
const flush = async () => {
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
};

/** FakeCompute whose next deletes / inserts hang until released, counting machines after every call. */
class HangingCompute extends FakeCompute {
  hangDeletes = 0;
  hangInserts = 0;
  readonly held: Array<() => void> = [];
  maxSeen = 0;
  constructor(private readonly pool: string) {
    super();
  }
  sample(): number {
    const n = [...this.machines.values()].filter((m) => m.labels['warmer-pool'] === this.pool).length;
    this.maxSeen = Math.max(this.maxSeen, n);
    return n;
  }
  override async deleteMachine(zone: string, name: string): Promise<void> {
    if (this.hangDeletes > 0) {
      this.hangDeletes--;
      await new Promise<void>((r) => this.held.push(r));
    }
    await super.deleteMachine(zone, name);
    this.sample();
  }
  override async createMachine(req: CreateMachineRequest): Promise<Machine> {
    if (this.hangInserts > 0) {
      this.hangInserts--;
      await new Promise<void>((r) => this.held.push(r));
    }
    const m = await super.createMachine(req);
    this.sample();
    return m;
  }
  release() {
    for (const r of this.held.splice(0)) r();
  }
}

async function setup(renewals: 'work' | 'fail') {
  const clock = new FakeClock(1_800_000_000_000);
  const stores = linkedMemoryStores();
  const compute = new HangingCompute('ci');
  const runtime = stores.runtime;
  if (renewals === 'fail') runtime.renewLease = async () => Promise.reject(new Error('store unreachable (injected)'));
  const deps: ReconcileDeps = {
    pools: new MemoryPoolStore(),
    ...stores,
    compute,
    prober: new FakeProber(),
    publisher: new FakePublisher(),
    clock,
    after: clock.after,
    logger: memoryLogger(),
    settings: { ...DEFAULT_SETTINGS, leaseMs: LEASE, actionWaitMs: 30 * 60_000, replanAfterMs: 30 * 60_000, createConcurrency: 1 },
  };
  await deps.pools.putPool('ci', spec({ targetReady: 3, maxSize: 4, zones: ['us-central1-a'] }), clock.now());
  // An orphan: a machine of the pool with no record, well past the grace period.
  compute.machines.set('ci-orphan', {
    name: 'ci-orphan',
    zone: 'us-central1-a',
    status: 'RUNNING',
    ip: '127.9.9.9',
    publicIp: null,
    labels: { 'warmer-pool': 'ci', 'warmer-managed': 'true' },
    labelFingerprint: 'f0',
    createdAt: clock.now() - 3_600_000,
    requestId: 'x',
  });
  return { clock, deps, compute };
}

describe('a pass that hangs past its lease never breaks maxSize', () => {
  it.each([
    { case: 'the heartbeat keeps the lease: the second pass is skipped', renewals: 'work' as const, second: 'skipped_lease', first: 'done' },
    {
      case: 'renewals fail: the lease runs out, the second pass takes over, the first is fenced',
      renewals: 'fail' as const,
      second: 'done',
      first: 'lease_lost',
    },
  ])('$case', async ({ renewals, second, first }) => {
    const { clock, deps, compute } = await setup(renewals);
    const maxSize = 4;
    compute.hangDeletes = 1; // the orphan delete hangs
    compute.hangInserts = 1; // and the first insert (creations are one at a time: the rest wait behind it)
    const samples: number[] = [];
    const passA = reconcilePool(deps, 'ci');
    await flush();
    samples.push(compute.sample());
    // Creation did not wait for the hung delete: the first insert is under way.
    expect(compute.held.length).toBe(2);
    expect((await deps.instances.listByPool('ci')).map((r) => r.state)).toEqual(['creating']);

    for (let t = 0; t < 3; t++) {
      clock.advance(LEASE / 2); // 1.5 leases in all
      await flush();
      samples.push(compute.sample());
    }
    const b: PassSummary = await reconcilePool(deps, 'ci');
    expect(b.outcome).toBe(second);
    samples.push(compute.sample());

    compute.release(); // the hung delete and insert finish; the first pass goes on
    await flush();
    compute.release();
    const a = await passA;
    samples.push(compute.sample());
    expect(a.outcome).toBe(first);

    // Later passes converge: orphan gone, target met, still never above maxSize.
    for (let i = 0; i < 3; i++) {
      compute.release();
      clock.advance(1000);
      await reconcilePool(deps, 'ci');
      samples.push(compute.sample());
    }
    expect(Math.max(...samples, compute.maxSeen)).toBeLessThanOrEqual(maxSize);
    const live = (await deps.instances.listByPool('ci')).filter((r) => r.state !== 'deleted');
    expect(live).toHaveLength(3);
    expect(compute.machines.has('ci-orphan')).toBe(false);
    expect([...compute.machines.keys()].sort()).toEqual(live.map((r) => r.name).sort());
  });

  it('a record write under a lost fence is refused: nothing written, precondition_failed', async () => {
    const { clock, deps } = await setup('work');
    await deps.runtime.acquireLease('ci', 'old', clock.now(), LEASE);
    const claim = await deps.runtime.claimPass({ pool: 'ci', holder: 'new', now: clock.now() + LEASE + 1, ttlMs: LEASE });
    expect(claim.kind).toBe('acquired');
    const doc = await deps.runtime.getRuntimeDoc('ci');
    const rec = (await import('../support/builders.js')).record({ pool: 'ci', state: 'creating', name: 'ci-x' });
    await expect(deps.instances.create(rec, { pool: 'ci', holder: 'old', generation: doc.generation - 1, now: clock.now() + LEASE + 2 })).rejects.toMatchObject(
      { code: 'precondition_failed' },
    );
    expect(await deps.instances.get('ci-x')).toBeNull();
    await deps.instances.create(rec, { pool: 'ci', holder: 'new', generation: doc.generation, now: clock.now() + LEASE + 2 });
    expect(await deps.instances.get('ci-x')).not.toBeNull();
  });
});
