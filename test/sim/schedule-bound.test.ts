/**
 * Schedule bounds on small seeded traces: a schedule keyed on the hour of the day beats a
 * fixed target on a daytime-only trace, the one-class schedule is the cheapest fixed target,
 * and a schedule learned from a first half that does not look like the second fails there.
 */
import { describe, expect, it } from 'vitest';
import { simulate } from '../../shared/sim/engine.js';
import { fixedPolicy } from '../../shared/sim/policies.js';
import { DEFAULT_SIM_SPEC } from '../../shared/sim/run.js';
import { Rng } from '../../shared/sim/rng.js';
import { CLASS_KINDS, scheduleBounds } from '../../shared/sim/schedule-bound.js';
import type { TraceJob } from '../../shared/sim/trace.js';

const boot = { medianS: 40, sigma: 0.3, failureRate: 0 };
const opts = { spec: DEFAULT_SIM_SPEC, boot, seed: 3, deleteS: 30 };
const DAY = 86_400_000;
const HOUR = 3_600_000;
const MINUTE = 60_000;
/** Monday 00:00 UTC. */
const T0 = Date.UTC(2025, 0, 6);

/** Bursts of 4–6 jobs every 15–25 min between the day's busy hours [startH, endH) UTC, 5–15 min each. */
function busyHours(days: number, hoursOf: (day: number) => [number, number], seed = 11): TraceJob[] {
  const rng = new Rng(seed);
  const jobs: TraceJob[] = [];
  for (let d = 0; d < days; d++) {
    const [startH, endH] = hoursOf(d);
    const end = T0 + d * DAY + endH * HOUR;
    for (let t = T0 + d * DAY + startH * HOUR + (2 + rng.next() * 15) * MINUTE; t < end; t += (15 + rng.next() * 10) * MINUTE) {
      const size = 4 + Math.floor(rng.next() * 3);
      for (let i = 0; i < size; i++) jobs.push({ startMs: Math.round(t + i * 2000 * rng.next()), durationMs: Math.round((5 + rng.next() * 10) * MINUTE) });
    }
  }
  return jobs.sort((a, b) => a.startMs - b.startMs);
}

describe('scheduleBounds', () => {
  const daytime = busyHours(8, () => [9, 17]);
  const measured = { ...opts, measureFromMs: T0 + DAY };

  it('on a 09–17 trace, an hour-of-day schedule reaches the target at well under the idle time of the cheapest fixed target', () => {
    const rows = scheduleBounds(daytime, measured, { targets: [0.9, 0.95], maxTarget: 10, classes: ['hour-of-day'] });
    expect(rows).toHaveLength(2);
    for (const r of rows) {
      expect(r.inSample.hitRate).toBeGreaterThanOrEqual(r.warmHitTarget - 0.02);
      expect(r.inSample.bestFixedTarget).not.toBeNull();
      expect(r.inSample.ratio).not.toBeNull();
      expect(r.inSample.ratio!).toBeLessThan(0.6);
      // The splice predicted the target; the replay (with boots at 09:00) is near it.
      expect(r.inSample.estimatedHitRate).toBeGreaterThanOrEqual(r.warmHitTarget);
    }
  });

  it('the one-class schedule is the cheapest fixed target', () => {
    const [row] = scheduleBounds(daytime, measured, { targets: [0.95], maxTarget: 10, classes: ['one'] });
    const fit = row!.inSample;
    expect(fit.ratio).toBeCloseTo(1, 2);
    // Against fixed policies run on their own over the same window.
    const fixedRun = (n: number) => simulate(daytime, fixedPolicy(n), measured);
    const n = fit.bestFixedTarget!;
    const own = fixedRun(n);
    expect(Math.abs(own.idleMs / HOUR - fit.idleVmHours) / fit.idleVmHours).toBeLessThan(0.02);
    expect(own.warm / own.jobs).toBeGreaterThanOrEqual(0.95 - 0.01);
    const below = fixedRun(n - 1);
    expect(below.warm / below.jobs).toBeLessThan(0.95 + 0.01);
  });

  it('a schedule learned on a first half busy at 09–12 fails on a second half busy at 15–18', () => {
    const shifted = busyHours(14, (d) => (d < 7 ? [9, 12] : [15, 18]));
    const [row] = scheduleBounds(shifted, measured, { targets: [0.9], maxTarget: 10, classes: ['hour-of-day'] });
    expect(row!.inSample.hitRate).toBeGreaterThan(0.85);
    expect(row!.outOfSample).not.toBeNull();
    // It learned to hold nothing at 15–18: almost every job there is cold.
    expect(row!.outOfSample!.hitRate).toBeLessThan(0.2);
    expect(row!.outOfSample!.estimatedHitRate).toBeLessThan(0.2);
  });

  it('gives a row per class kind and target, with its class count; no out-of-sample fit under 2 days', () => {
    const short = busyHours(4, () => [9, 17]);
    const rows = scheduleBounds(short, measured, { targets: [0.9, 0.99], maxTarget: 8 });
    const counts = { one: 1, 'hour-of-day': 24, 'hour-of-week': 168, 'weekpart-hour': 48, recency: 8 };
    expect(rows.map((r) => [r.classes, r.warmHitTarget, r.classCount])).toEqual(CLASS_KINDS.flatMap((k) => [0.9, 0.99].map((q) => [k, q, counts[k]])));
    for (const r of rows) {
      // Hindsight reaches the target in the splice whenever the largest fixed target does.
      expect(r.inSample.estimatedHitRate).toBeGreaterThanOrEqual(Math.min(r.warmHitTarget, rows[1]!.inSample.estimatedHitRate));
      if (r.inSample.ratio !== null) expect(r.inSample.ratio).toBeCloseTo(r.inSample.idleVmHours / r.inSample.bestFixedIdleVmHours!, 2);
      expect(r.outOfSample).not.toBeNull();
    }
    expect(rows.filter((r) => r.classes === 'one').map((r) => r.inSample.ratio)).toEqual([1, 1]);
    const late = scheduleBounds(short, { ...opts, measureFromMs: T0 + 2.5 * DAY }, { targets: [0.9], maxTarget: 8, classes: ['recency'] });
    expect(late).toHaveLength(1);
    expect(late[0]!.outOfSample).toBeNull();
  });
});
