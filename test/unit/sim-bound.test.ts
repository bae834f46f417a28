import { describe, expect, it } from 'vitest';
import { hourOfWeek } from '../../shared/domain/sizing.js';
import { foresightHistory } from '../../shared/sim/bound.js';

const MON = Date.UTC(2025, 8, 8);
const H = 3_600_000;

describe('foresightHistory', () => {
  it('holds every claim of the trace in its own hour of the week, before the trace starts', () => {
    // Two weeks: a burst of 5 every weekday at 10:00, one job on Saturdays at 03:00.
    const jobs = [];
    for (let d = 0; d < 14; d++) {
      if (d % 7 < 5) for (let i = 0; i < 5; i++) jobs.push({ startMs: MON + d * 24 * H + 10 * H + i * 1000, durationMs: 60_000 });
      if (d % 7 === 5) jobs.push({ startMs: MON + d * 24 * H + 3 * H, durationMs: 60_000 });
    }
    const h = foresightHistory(jobs);
    expect(h.hourStart).toBeLessThan(jobs[0]!.startMs);
    const claims = h.profile.claims.reduce((a, b) => a + b, 0);
    expect(claims).toBeGreaterThan(0.7 * jobs.length); // older claims weigh less: a 3-week half-life over 2 weeks
    expect(claims).toBeLessThanOrEqual(jobs.length);
    const busy = hourOfWeek(MON + 10 * H);
    expect(h.profile.claims[busy]).toBeGreaterThan(6); // two Mondays of 5, decayed
    expect(h.profile.claims[hourOfWeek(MON + 5 * 24 * H + 3 * H)]).toBeGreaterThan(1.2); // two Saturdays of 1
    expect(h.profile.claims[hourOfWeek(MON + 11 * H)]).toBe(0);
    // Counted as served with no prediction: they do not calibrate the aim.
    expect(h.served.scored ?? 0).toBe(0);
  });

  it('is empty for an empty trace', () => {
    expect(foresightHistory([]).profile.claims.every((c) => c === 0)).toBe(true);
  });
});
