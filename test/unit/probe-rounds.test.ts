/**
 * Probe rounds after the scheduled tick, on a fake clock: a ready machine that dies is
 * out of the claimable set within interval × failures + a few seconds, although the
 * scheduler fires only once a minute.
 */
import { describe, expect, it } from 'vitest';
import { MemoryInstanceStore, MemoryPoolStore, linkedMemoryStores } from '../../shared/adapters/memory-store.js';
import { memoryLogger } from '../../shared/logging.js';
import type { ProbeResult, ProbeTarget } from '../../shared/domain/probe.js';
import { DEFAULT_SETTINGS, type ReconcileDeps } from '../../shared/services/reconcile.js';
import { handleReconcileRequest } from '../../shared/services/refill.js';
import { runProbeRounds, runScheduledProbeRounds } from '../../shared/services/probe-rounds.js';
import { FakeCompute, FakeProber } from '../support/fake-compute.js';
import { FakePublisher } from '../support/fake-publisher.js';
import { FakeClock } from '../support/fake-clock.js';
import { spec } from '../support/builders.js';

const S = 1000;
const T0 = 1_800_000_000_000;
const NO_WATCH = { budgetMs: 0, intervalMs: 1000 };

/** Answers from the clock: the machine at `deadIp` stops answering at `deathAt`. */
class ClockedProber extends FakeProber {
  deadIp: string | null = null;
  deathAt = Infinity;
  probes = 0;
  constructor(private readonly clock: FakeClock) {
    super();
  }
  override async probe(t: ProbeTarget): Promise<ProbeResult> {
    this.probes++;
    if (t.address === this.deadIp && this.clock.now() >= this.deathAt) return { ok: false, durationMs: 1, reason: 'timed_out', detail: 'no answer' };
    return super.probe(t);
  }
}

async function setup(budgetMs: number) {
  const clock = new FakeClock(T0 - 180 * S);
  const prober = new ClockedProber(clock);
  const deps: ReconcileDeps & { instances: MemoryInstanceStore; publisher: FakePublisher } = {
    pools: new MemoryPoolStore(),
    // Linked: the instance store checks a pass's fence against the runtime store's lease.
    ...linkedMemoryStores(),
    compute: new FakeCompute(),
    prober,
    publisher: new FakePublisher(),
    clock,
    logger: memoryLogger(),
    settings: { ...DEFAULT_SETTINGS, probeRoundBudgetMs: budgetMs },
    sleep: (ms) => clock.sleep(ms),
  };
  await deps.pools.putPool('ci', spec({ targetReady: 3, maxSize: 6, healthCheck: { intervalSeconds: 10, failuresBeforeUnhealthy: 3 } }), T0);
  await deps.pools.putPool('slow', spec({ targetReady: 1, maxSize: 2, healthCheck: { intervalSeconds: 30 } }), T0);
  /** One scheduler tick at `at`, as functions/events.ts hands it over: the pass, then the rounds. */
  const tick = async (at: number) => {
    if (clock.now() < at) clock.advance(at - clock.now());
    await handleReconcileRequest(deps, { pool: '*', publishedAt: at }, NO_WATCH);
  };
  return { deps, clock, prober, tick };
}

async function claimable(deps: ReconcileDeps, pool = 'ci') {
  return (await deps.instances.listByPool(pool, ['ready'])).map((r) => r.name).sort();
}

describe('probe rounds between scheduler ticks', () => {
  it.each([
    { budgetS: 50, deathS: 5, withinS: 5 + 10 * 3 + 5 },
    { budgetS: 50, deathS: 42, withinS: 42 + 10 * 3 + 5 }, // dies late in a tick: the next tick's rounds catch it
    { budgetS: 0, deathS: 5, withinS: Infinity }, // no rounds: only passes, once a minute
  ])('a ready machine that dies at $deathS s is out of the claimable set within $withinS s (budget $budgetS s)', async ({ budgetS, deathS, withinS }) => {
    const { deps, prober, tick } = await setup(budgetS * S);
    await tick(T0 - 120 * S); // fill
    await tick(T0 - 60 * S); // booting → ready
    const ready = await claimable(deps);
    expect(ready).toHaveLength(3);
    const victim = (await deps.instances.get(ready[0]!))!;
    prober.deadIp = victim.ip;
    prober.deathAt = T0 + deathS * S;

    for (let k = 0; k < 4; k++) await tick(T0 + k * 60 * S);
    // when it left `ready` (the claimable set): a claim takes only ready records
    const left = (await deps.instances.get(victim.name))!.stateChangedAt;
    const goneAt = left.unhealthy ?? left.deleting ?? null;
    expect(goneAt).not.toBeNull();
    const seconds = (goneAt! - prober.deathAt) / S;
    if (withinS === Infinity) {
      expect(seconds).toBeGreaterThan(60); // the bug this fixes: minutes, not seconds
    } else {
      expect(seconds).toBeLessThanOrEqual(withinS - deathS);
      expect((await deps.instances.get(victim.name))!.state).not.toBe('ready');
      // a refill was asked for, so a pass replaces it without waiting for the tick
      expect(deps.publisher.refills.some((m) => m.pool === 'ci' && m.reason === 'unhealthy')).toBe(true);
    }
  });

  it('probes each pool at its own interval, and stops before the next tick', async () => {
    const { deps, clock, prober, tick } = await setup(50 * S);
    await tick(T0 - 120 * S);
    await tick(T0 - 60 * S);
    const before = prober.probes;
    clock.advance(T0 - clock.now());
    const out = await runProbeRounds(deps, T0, T0 + 50 * S);
    // ci (3 machines, every 10 s): rounds at 10, 20, 30, 40, 50 → 15 probes; slow (1, every 30 s): at 30 → 1
    expect(prober.probes - before).toBe(16);
    expect(out).toMatchObject({ rounds: 5, probed: 16, madeUnhealthy: 0 });
    expect(clock.now()).toBeLessThanOrEqual(T0 + 50 * S);
  });

  it('a booting machine that answers is made ready by a round, not left for the next tick', async () => {
    const { deps, clock, tick } = await setup(50 * S);
    (deps.prober as ClockedProber).healthyByDefault = false;
    await tick(T0); // creates; machines do not answer yet
    expect(await claimable(deps)).toHaveLength(0);
    (deps.prober as ClockedProber).healthyByDefault = true;
    expect(clock.now()).toBeLessThan(T0 + 60 * S);
    await runProbeRounds(deps, clock.now(), clock.now() + 15 * S);
    expect(await claimable(deps)).toHaveLength(3);
    expect((deps.logger as ReturnType<typeof memoryLogger>).entries.filter((e) => e.message === 'machine ready').length).toBeGreaterThanOrEqual(3);
  });

  it('a tick runs the rounds up to its budget; a refill of one pool runs none', async () => {
    const { deps, clock, prober, tick } = await setup(50 * S);
    await tick(T0 - 120 * S);
    await tick(T0 - 60 * S);
    expect(await claimable(deps)).toHaveLength(3);
    // A refill request for one pool: its pass probes once, and nothing after it.
    clock.advance(T0 - clock.now());
    let before = prober.probes;
    await handleReconcileRequest(deps, { pool: 'ci', publishedAt: T0 }, NO_WATCH);
    expect(prober.probes - before).toBe(3);
    expect(clock.now()).toBe(T0);
    // The tick: the passes probe (3 + 1), then rounds until 50 s after its publication (15 + 1).
    clock.advance(60 * S);
    before = prober.probes;
    await tick(T0 + 60 * S);
    expect(prober.probes - before).toBe(4 + 16);
    expect(clock.now()).toBeGreaterThanOrEqual(T0 + 100 * S);
    expect(clock.now()).toBeLessThanOrEqual(T0 + 110 * S);
  });

  it('a budget of 0 runs no rounds', async () => {
    const { deps } = await setup(0);
    expect(await runScheduledProbeRounds(deps, T0)).toBeNull();
  });
});
