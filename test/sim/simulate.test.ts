/**
 * The simulator on small seeded traces: it drives planReconcile and the breaker, and the
 * outcomes (warm hits, waits, VM-hours) follow from the pool's behaviour.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { poolSpecSchema } from '../../shared/domain/pool-spec.js';
import { pickOldestReady, simulate } from '../../shared/sim/engine.js';
import { demandPolicy, fixedPolicy, gitlabBusinessHours, travisPolicy, vmpoolerPolicy } from '../../shared/sim/policies.js';
import { compareSizing, percentile, policyReport } from '../../shared/sim/report.js';
import { DEFAULT_SIM_SPEC, runSizing } from '../../shared/sim/run.js';
import { syntheticTrace, traceCsv } from '../../shared/sim/synthetic.js';
import { parseTrace, TraceError } from '../../shared/sim/trace.js';
import type { InstanceRecord } from '../../shared/domain/instance.js';

const boot = { medianS: 40, sigma: 0.3, failureRate: 0 };
const opts = { spec: DEFAULT_SIM_SPEC, boot, seed: 3, deleteS: 30 };
const T0 = Date.UTC(2025, 0, 6, 12);

describe('trace parsing', () => {
  it('reads started_epoch and duration_s, skips negative durations, sorts by start', () => {
    const t = parseTrace(readFileSync(resolve(import.meta.dirname, '../fixtures/trace-small.csv'), 'utf8'));
    expect(t.skipped).toBe(1);
    expect(t.jobs).toHaveLength(4);
    expect(t.jobs[0]).toEqual({ startMs: 1757006751000, durationMs: 153000 });
    expect(t.jobs.map((j) => j.startMs)).toEqual([...t.jobs.map((j) => j.startMs)].sort((a, b) => a - b));
  });

  it.each([
    ['no started_epoch column', 'start,duration_s\n1,2\n', /started_epoch/],
    ['a non-number', 'started_epoch,duration_s\nx,2\n', /row 2/],
    ['no rows', 'started_epoch,duration_s\n', /no rows/],
  ])('rejects %s', (_l, csv, msg) => expect(() => parseTrace(csv)).toThrow(msg));

  it('round-trips a synthetic trace through CSV', () => {
    const jobs = syntheticTrace({ days: 1 });
    expect(parseTrace(traceCsv(jobs)).jobs).toHaveLength(jobs.length);
    expect(() => parseTrace('')).toThrow(TraceError);
  });
});

describe('simulate', () => {
  it('a job finding a ready machine starts warm; with no pool every job waits a cold boot', () => {
    const jobs = [{ startMs: T0, durationMs: 600_000 }];
    const warm = simulate(jobs, fixedPolicy(2), opts);
    expect(warm).toMatchObject({ jobs: 1, warm: 1, coldWaitsMs: [] });
    const cold = simulate(jobs, fixedPolicy(0), opts);
    expect(cold.warm).toBe(0);
    expect(cold.coldWaitsMs).toHaveLength(1);
    expect(cold.coldWaitsMs[0]).toBeGreaterThan(10_000);
    expect(cold.coldWaitsMs[0]).toBeLessThan(120_000);
  });

  it('a burst bigger than the pool: the first ones are warm, the rest wait for the refill or their own boot', () => {
    const jobs = Array.from({ length: 5 }, (_, i) => ({ startMs: T0 + i, durationMs: 600_000 }));
    const r = simulate(jobs, fixedPolicy(3), opts);
    expect(r.warm).toBe(3);
    expect(r.coldWaitsMs).toHaveLength(2);
    for (const w of r.coldWaitsMs) expect(w).toBeLessThan(120_000);
  });

  it('counts idle VM-hours of ready machines: a pool of 2 for an hour with no jobs is ~2 idle hours', () => {
    const jobs = [
      { startMs: T0, durationMs: 1000 },
      { startMs: T0 + 3_600_000, durationMs: 1000 },
    ];
    const r = simulate(jobs, fixedPolicy(2), { ...opts, measureFromMs: T0 + 1 });
    expect(r.idleMs / 3_600_000).toBeGreaterThan(1.9);
    expect(r.idleMs / 3_600_000).toBeLessThanOrEqual(2);
    expect(r.totalMs).toBeGreaterThanOrEqual(r.idleMs);
  });

  it('machines that never boot are torn down at the boot timeout and feed the breaker', () => {
    const jobs = [{ startMs: T0, durationMs: 1000 }];
    const r = simulate(jobs, fixedPolicy(3), { ...opts, boot: { ...boot, failureRate: 1 } });
    expect(r.warm).toBe(0);
    expect(r.bootFailures).toBeGreaterThanOrEqual(3);
    // Without the breaker 3 machines would be retried every boot timeout (5 min) for the
    // 4 simulated hours: ~144. Open, it lets one through per half-open window (≤ 15 min).
    expect(r.machinesCreated).toBeLessThan(80);
  });

  it('maxSize caps the pool whatever the target', () => {
    const spec = poolSpecSchema.parse({ ...DEFAULT_SIM_SPEC, maxSize: 4 });
    const jobs = Array.from({ length: 10 }, (_, i) => ({ startMs: T0 + i, durationMs: 600_000 }));
    const r = simulate(jobs, fixedPolicy(10), { ...opts, spec });
    expect(r.warm).toBe(4);
  });

  it('is reproducible for a seed, and a day of one pool is fast', () => {
    const jobs = syntheticTrace({ days: 3 });
    const a = policyReport(simulate(jobs, demandPolicy({ warmHitTarget: 0.95 }), opts), 0.1);
    const b = policyReport(simulate(jobs, demandPolicy({ warmHitTarget: 0.95 }), opts), 0.1);
    expect(a).toEqual(b);
    const started = performance.now();
    simulate(jobs, fixedPolicy(10), opts);
    // 50 ms a day is the target on an idle machine; tests share 2 cores with others.
    expect((performance.now() - started) / 3).toBeLessThan(500);
  });

  it('the peers run with their cadences: Travis creates one per 30 s pass, vmpooler 10 in flight', () => {
    const jobs = Array.from({ length: 20 }, (_, i) => ({ startMs: T0 + i * 1000, durationMs: 60_000 }));
    const travis = simulate(jobs, travisPolicy(20), { ...opts, leadInS: 120 });
    const vmpooler = simulate(jobs, vmpoolerPolicy(20), { ...opts, leadInS: 120 });
    const warmer = simulate(jobs, fixedPolicy(20), { ...opts, leadInS: 120 });
    // two minutes of lead-in: Travis made at most 4, vmpooler at most 10 booting at a time
    expect(travis.warm).toBeLessThanOrEqual(4);
    expect(vmpooler.warm).toBeLessThanOrEqual(20);
    expect(warmer.warm).toBe(20);
    expect(travis.warm).toBeLessThan(vmpooler.warm);
  });

  it('demand sizing learns a busy daytime pattern and holds fewer machines at night than a fixed pool', () => {
    const jobs = syntheticTrace({ days: 14, troughShare: 0.02 });
    const from = jobs[0]!.startMs + 7 * 86_400_000;
    const demand = simulate(jobs, demandPolicy({ warmHitTarget: 0.9 }), { ...opts, measureFromMs: from });
    expect(demand.warm / demand.jobs).toBeGreaterThan(0.85);
    const report = compareSizing(jobs, { ...opts, measureFromMs: from, pricePerHour: 0.1, maxFixed: 40, peers: false, targets: [0.9] }, {});
    const row = report.comparison[0]!;
    expect(row.bestFixedTarget).not.toBeNull();
    expect(row.demandIdleVmHours).toBeLessThan(row.bestFixedIdleVmHours!);
    expect(report.foresight).toBeUndefined();
  }, 120_000);

  it('with foresight, demand sizing knowing the whole trace is compared the same way, and costs no more than learning it', () => {
    const jobs = syntheticTrace({ days: 14 });
    const from = jobs[0]!.startMs + 7 * 86_400_000;
    const report = compareSizing(jobs, { ...opts, measureFromMs: from, pricePerHour: 0.1, maxFixed: 40, peers: false, targets: [0.9], foresight: true }, {});
    const [learned] = report.comparison;
    const [bound] = report.foresight!;
    expect(bound!.warmHitTarget).toBe(0.9);
    expect(bound!.warmHitRate).toBeGreaterThanOrEqual(0.88);
    expect(bound!.bestFixedIdleVmHours).not.toBeNull();
    expect(bound!.ratio).toBeCloseTo(bound!.demandIdleVmHours / bound!.bestFixedIdleVmHours!, 2);
    // Knowing the demand in advance is never much worse than learning it.
    expect(bound!.demandIdleVmHours).toBeLessThan(learned!.demandIdleVmHours * 1.05);
    // The bound's runs are not listed as policies.
    expect(report.policies.some((p) => p.name.startsWith('foresight-'))).toBe(false);
  }, 120_000);

  it('the GitLab policy follows its cron periods', () => {
    const night = Date.UTC(2025, 0, 6, 2); // Monday 02:00 UTC
    const day = Date.UTC(2025, 0, 6, 10);
    const jobsAt = (t: number) => Array.from({ length: 8 }, (_, i) => ({ startMs: t + i, durationMs: 60_000 }));
    expect(simulate(jobsAt(day), gitlabBusinessHours(8), opts).warm).toBe(8);
    expect(simulate(jobsAt(night), gitlabBusinessHours(8), opts).warm).toBe(2);
  });
});

describe('report', () => {
  it('percentiles by nearest rank', () => {
    expect(percentile([], 50)).toBe(0);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 99)).toBe(4);
  });

  it('runSizing prints the issue shape with a comparison row per warm-hit target', () => {
    const jobs = syntheticTrace({ days: 2, peakBurstsPerHour: 2, meanBurstExtra: 2 });
    const r = runSizing({ jobs, skipped: 0 }, { warmupDays: 0.5, maxFixed: 16 });
    expect(Object.keys(r).sort()).toEqual(['comparison', 'policies', 'trace']);
    expect(r.comparison.map((c) => c.warmHitTarget)).toEqual([0.9, 0.95, 0.99]);
    for (const c of r.comparison)
      expect(Object.keys(c).sort()).toEqual(['bestFixedIdleVmHours', 'bestFixedTarget', 'demandIdleVmHours', 'ratio', 'warmHitTarget']);
    for (const p of r.policies)
      expect(Object.keys(p).sort()).toEqual(['cost', 'idleVmHours', 'name', 'totalVmHours', 'waitP50S', 'waitP95S', 'waitP99S', 'warmHitRate']);
    const names = r.policies.map((p) => p.name);
    expect(names.some((n) => n.startsWith('fixed-'))).toBe(true);
    expect(names.filter((n) => n.startsWith('demand-'))).toHaveLength(3);
    expect(names.some((n) => n.startsWith('gitlab-taskscaler-'))).toBe(true);
    expect(names.some((n) => n.startsWith('travis-warmer-'))).toBe(true);
    expect(names.some((n) => n.startsWith('vmpooler-'))).toBe(true);
  }, 180_000);
});

describe('pickOldestReady', () => {
  const rec = (name: string, state: InstanceRecord['state'], readyAt: number) =>
    ({ name, state, createdAt: 0, stateChangedAt: { ready: readyAt } }) as unknown as InstanceRecord;
  it.each([
    [[rec('a', 'ready', 5), rec('b', 'ready', 3)], 'b'],
    [[rec('a', 'claimed', 1), rec('b', 'ready', 3)], 'b'],
    [[rec('b', 'ready', 3), rec('a', 'ready', 3)], 'a'],
    [[rec('a', 'booting', 1)], null],
  ])('%#', (records, expected) => expect(pickOldestReady(records)?.name ?? null).toBe(expected));
});
