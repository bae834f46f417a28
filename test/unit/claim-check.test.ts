/**
 * The claim-time check (pool spec `claimCheck`), over the in-memory stores, a table of
 * probe answers and a fake clock: a machine that fails it is never handed out, it is
 * torn down and replaced, and the budget bounds the added latency.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryInstanceStore, MemoryPoolStore } from '../../shared/adapters/memory-store.js';
import { memoryLogger } from '../../shared/logging.js';
import type { ProbeTarget } from '../../shared/domain/probe.js';
import { claimInstances } from '../../shared/services/claim.js';
import type { ApiDeps } from '../../shared/services/deps.js';
import { FakeProber } from '../support/fake-compute.js';
import { FakePublisher } from '../support/fake-publisher.js';
import { record, spec } from '../support/builders.js';

const T0 = 1_700_000_000_000;
let now = T0;

/** Probes that take their durationMs on the fake clock, and remember what was asked. */
class TimedProber extends FakeProber {
  readonly asked: ProbeTarget[] = [];
  override async probe(t: ProbeTarget) {
    this.asked.push(t);
    const r = await super.probe(t);
    now += Math.min(r.durationMs, t.timeoutMs);
    return r;
  }
  override async probeMany(targets: ProbeTarget[]) {
    const out = [];
    for (const t of targets) out.push(await this.probe(t));
    return out;
  }
}

let deps: ApiDeps & { instances: MemoryInstanceStore; pools: MemoryPoolStore; publisher: FakePublisher; prober: TimedProber };
const names: string[] = [];
const dead = { ok: false as const, durationMs: 300, reason: 'timed_out' as const, detail: 'no SSH banner' };

beforeEach(async () => {
  now = T0;
  deps = {
    instances: new MemoryInstanceStore(),
    pools: new MemoryPoolStore(),
    publisher: new FakePublisher(),
    prober: new TimedProber(),
    clock: { now: () => now },
    logger: memoryLogger(),
  };
  await deps.pools.putPool('ci', spec({ targetReady: 3, claimCheck: { enabled: true, timeoutMs: 300, budgetMs: 1000 } }), T0);
  names.length = 0;
  for (let i = 0; i < 3; i++) {
    const r = record({ pool: 'ci', state: 'ready', at: T0 - 10_000 + i });
    await deps.instances.create(r);
    names.push(r.name);
  }
});

const ipOf = async (name: string) => (await deps.instances.get(name))!.ip!;
const claim = (requestId: string, count = 1) => claimInstances(deps, { pool: 'ci', principal: 'alice', requestId, assignee: null, labels: {}, count });

describe('claim-time check', () => {
  it('skips a broken machine: the claim gets a healthy one, the broken one is torn down as claim_check_failed', async () => {
    deps.prober.answers.set(await ipOf(names[0]!), dead); // the oldest: picked first
    const res = await claim('job-1');
    expect(res.instances.map((i) => i.name)).toEqual([names[1]]);
    expect(await deps.instances.get(names[0]!)).toMatchObject({ state: 'deleting', reason: 'claim_check_failed' });
    expect(deps.publisher.teardowns).toEqual([{ instance: names[0], pool: 'ci', reason: 'claim_check_failed' }]);
    // The probe is the health check's (port 22, SSH banner) with the check's timeout.
    expect(deps.prober.asked[0]).toMatchObject({ port: 22, expectSshBanner: true, timeoutMs: 300 });
    // A retry of the request returns the replacement, not the dead machine.
    const again = await claim('job-1');
    expect(again).toMatchObject({ replayed: true, instances: [{ name: names[1], state: 'claimed' }] });
  });

  it('a multi-machine claim replaces only the broken one', async () => {
    deps.prober.answers.set(await ipOf(names[1]!), dead);
    const res = await claim('job-2', 2);
    expect(res.instances.map((i) => i.name).sort()).toEqual([names[0], names[2]].sort());
    expect((await deps.instances.get(names[1]!))!.state).toBe('deleting');
  });

  it('when no healthy machine is left the claim is given back whole and answered pool_empty; nothing dead is handed out', async () => {
    for (const n of names) deps.prober.answers.set(await ipOf(n), dead);
    await expect(claim('job-3')).rejects.toMatchObject({ code: 'pool_empty' });
    const states = await Promise.all(names.map(async (n) => (await deps.instances.get(n))!.state));
    expect(states).toEqual(['deleting', 'deleting', 'deleting']);
    expect((await deps.instances.countByState('ci')).claimed).toBe(0);
  });

  it('the budget bounds the added latency: past it the claim is given back, even with healthy machines left', async () => {
    await deps.pools.putPool('ci', spec({ targetReady: 3, claimCheck: { enabled: true, timeoutMs: 300, budgetMs: 500 } }), T0);
    deps.prober.answers.set(await ipOf(names[0]!), dead);
    deps.prober.answers.set(await ipOf(names[1]!), dead);
    await expect(claim('job-4')).rejects.toMatchObject({ code: 'pool_empty' });
    expect(now - T0).toBeLessThanOrEqual(500);
    expect(deps.prober.asked).toHaveLength(2);
    expect(await deps.instances.get(names[2]!)).toMatchObject({ state: 'deleting', reason: 'claim_check_incomplete' });
  });

  it('off by default: no probe on the claim path', async () => {
    await deps.pools.putPool('ci', spec({ targetReady: 3 }), T0);
    deps.prober.answers.set(await ipOf(names[0]!), dead);
    expect((await claim('job-5')).instances.map((i) => i.name)).toEqual([names[0]]);
    expect(deps.prober.asked).toEqual([]);
  });
});
