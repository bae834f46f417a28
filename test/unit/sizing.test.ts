import { describe, expect, it } from 'vitest';
import {
  BURST_GAP_MS,
  CALIBRATION_BOUNDS,
  CALIBRATION_PRIOR_CLAIMS,
  calibratedAim,
  peaksFor,
  RECENT_MINUTES,
  cronMatches,
  emptyHistory,
  hourOfWeek,
  recordClaim,
  rollHistory,
  scheduleFloor,
  sizingTarget,
  type DemandHistory,
  type SizingInputs,
} from '../../shared/domain/sizing.js';

const MON = Date.UTC(2025, 8, 8); // Monday 2025-09-08 00:00 UTC
const H = 3_600_000;
const DAY = 24 * H;

function inputs(over: Partial<SizingInputs['sizing']> = {}, maxSize = 100): SizingInputs {
  return { targetReady: 3, maxSize, sizing: { mode: 'demand', warmHitTarget: 0.95, minReady: 0, maxReady: null, schedules: [], ...over } };
}

/** Weeks of history: on weekdays 09–17 UTC a burst of `size` claims every hour; nothing otherwise. */
function officeHistory(weeks: number, size = 10): DemandHistory {
  let h = emptyHistory();
  for (let d = 0; d < weeks * 7; d++) {
    const weekday = d % 7 < 5;
    for (let hour = 0; hour < 24; hour++) {
      const t = MON + d * DAY + hour * H;
      h = rollHistory(h, t);
      if (weekday && hour >= 9 && hour < 17)
        for (let i = 0; i < size; i++) h = recordClaim(h, t + 5 * 60_000 + i * 1000, { count: 1, warm: 1, predictedHitRate: 1 });
    }
  }
  return rollHistory(h, MON + weeks * 7 * DAY);
}

describe('hourOfWeek', () => {
  it.each([
    [MON, 0],
    [MON + 9 * H + 59 * 60_000, 9],
    [MON + 2 * DAY + 15 * H, 2 * 24 + 15],
    [MON + 6 * DAY + 23 * H, 167],
    [MON + 7 * DAY, 0],
  ])('%s → slot %s', (t, slot) => expect(hourOfWeek(t)).toBe(slot));
});

describe('claim history', () => {
  it('groups claims closer than the burst gap into one burst and closes it after the gap', () => {
    let h = emptyHistory();
    h = recordClaim(h, MON + 10 * H, { count: 1, warm: 1 });
    h = recordClaim(h, MON + 10 * H + 30_000, { count: 2, warm: 0 });
    h = recordClaim(h, MON + 10 * H + 50_000, { count: 1, warm: 1 });
    expect(h.openBurst?.size).toBe(4);
    expect(h.current.bursts).toBe(1);
    expect(h.current.claims).toBe(4);
    h = rollHistory(h, MON + 10 * H + 50_000 + BURST_GAP_MS + 1);
    expect(h.openBurst).toBeNull();
    expect(h.profile.burstSizes['4']).toBe(1);
    // its peak within 30 s: the claims at +30 s and +50 s (3 machines)
    expect(h.profile.burstPeaks['30']?.['3']).toBe(1);
    expect(h.profile.burstPeaks['60']?.['4']).toBe(1);
  });

  it('folds an hour into its hour-of-week slot when the hour rolls, with hits and misses', () => {
    let h = rollHistory(emptyHistory(), MON + 14 * H);
    h = recordClaim(h, MON + 14 * H + 60_000, { count: 3, warm: 2, predictedHitRate: 0.9 });
    h = rollHistory(h, MON + 15 * H + 1);
    expect(h.profile.claims[14]).toBeCloseTo(3, 2);
    expect(h.profile.bursts[14]).toBeCloseTo(1, 2);
    expect(h.profile.hours[14]).toBeCloseTo(1, 2);
    expect(h.served.warm).toBeCloseTo(2, 1);
    expect(h.served.cold).toBeCloseTo(1, 1);
    expect(h.current).toEqual({ bursts: 0, claims: 0, warm: 0, cold: 0, predicted: 0 });
  });

  it('keeps only the recent minute counts, and decays the profile over weeks', () => {
    let h = emptyHistory();
    h = recordClaim(h, MON, { count: 5, warm: 5 });
    h = recordClaim(h, MON + 3 * 60_000, { count: 1, warm: 1 });
    expect(h.minutes).toEqual([5, 0, 0, 1]);
    h = rollHistory(h, MON + 10 * H);
    expect(h.minutes).toHaveLength(RECENT_MINUTES);
    expect(h.minutes.every((m) => m === 0)).toBe(true);
    const claimsBefore = h.profile.claims[0] as number;
    h = rollHistory(h, MON + 10 * H + 6 * 7 * DAY); // six idle weeks: two half-lives
    expect(h.profile.claims[0]).toBeCloseTo(claimsBefore / 4, 1);
  });

  it('rolling to the same time changes nothing; the history is JSON (one Firestore document)', () => {
    const h = officeHistory(1);
    expect(rollHistory(h, MON + 7 * DAY)).toBe(h);
    const json = JSON.stringify(h);
    expect(JSON.parse(json)).toEqual(h);
    expect(json.length).toBeLessThan(64 * 1024);
  });
});

describe('sizingTarget', () => {
  const office = officeHistory(3, 10);

  it.each([
    ['weekday 10:00, in office hours', MON + 21 * DAY + 10 * H, 0.95, { min: 8, max: 10 }],
    ['weekday 03:00, nobody works', MON + 21 * DAY + 3 * H, 0.9, { min: 0, max: 2 }],
    ['Saturday 11:00', MON + 26 * DAY + 11 * H, 0.9, { min: 0, max: 2 }],
    ['weekday 10:00 at 0.99 covers the whole burst', MON + 21 * DAY + 10 * H, 0.99, { min: 10, max: 10 }],
  ])('%s', (_label, now, q, { min, max }) => {
    const d = sizingTarget(office, inputs({ warmHitTarget: q }), now);
    expect(d.mode).toBe('demand');
    expect(d.target).toBeGreaterThanOrEqual(min);
    expect(d.target).toBeLessThanOrEqual(max);
    expect(d.why.slot).toBe(hourOfWeek(now));
    expect(d.why.burstSizeMax).toBe(10);
  });

  // One history object asked again and again (as the simulator does between claims): each
  // answer must be the one a fresh copy of the history gets (no memo carried over wrongly).
  it.each([
    [
      'the same pass twice',
      [
        [MON + 21 * DAY + 10 * H, {}],
        [MON + 21 * DAY + 10 * H, {}],
      ],
    ],
    [
      'the clock moves to a quiet hour',
      [
        [MON + 21 * DAY + 10 * H, {}],
        [MON + 21 * DAY + 22 * H, {}],
      ],
    ],
    [
      'the clock moves within an hour, then one lead time before the next',
      [
        [MON + 21 * DAY + 8 * H, {}],
        [MON + 21 * DAY + 8 * H + 59 * 60_000 + 30_000, {}],
      ],
    ],
    [
      'another warm-hit target',
      [
        [MON + 21 * DAY + 10 * H, {}],
        [MON + 21 * DAY + 10 * H, { warmHitTarget: 0.99 }],
      ],
    ],
    [
      'a tighter maxReady, then minReady',
      [
        [MON + 21 * DAY + 10 * H, {}],
        [MON + 21 * DAY + 10 * H, { maxReady: 4 }],
        [MON + 21 * DAY + 23 * H, { minReady: 5 }],
      ],
    ],
    [
      'a schedule floor starts matching',
      [
        [MON + 21 * DAY + 3 * H, {}],
        [MON + 21 * DAY + 3 * H, { schedules: [{ cron: '* 3 * * *', minReady: 7 }] }],
      ],
    ],
    [
      'fixed mode after demand',
      [
        [MON + 21 * DAY + 10 * H, {}],
        [MON + 21 * DAY + 10 * H, { mode: 'fixed' as const }],
      ],
    ],
  ] as Array<[string, Array<[number, Partial<SizingInputs['sizing']>]>]>)('%s: the same decision as a fresh history', (_label, passes) => {
    let h = officeHistory(3, 10);
    for (const [now, over] of passes) {
      h = rollHistory(h, now);
      const fresh = sizingTarget(structuredClone(h), inputs(over), now, { leadMs: 45_000 });
      expect(sizingTarget(h, inputs(over), now, { leadMs: 45_000 })).toEqual(fresh);
    }
  });

  it('holds more in busy hours than quiet ones and predicts the aimed hit rate', () => {
    const busy = sizingTarget(office, inputs(), MON + 21 * DAY + 12 * H);
    const quiet = sizingTarget(office, inputs(), MON + 21 * DAY + 22 * H);
    expect(busy.target).toBeGreaterThan(quiet.target);
    expect(busy.why.predictedHitRate).toBeGreaterThanOrEqual(0.95 - 1e-9);
  });

  it('looks one lead time ahead: just before office hours it already holds the office target', () => {
    const before = sizingTarget(office, inputs(), MON + 21 * DAY + 9 * H - 30_000, { leadMs: 60_000 });
    const during = sizingTarget(office, inputs(), MON + 21 * DAY + 9 * H + 60_000, { leadMs: 60_000 });
    expect(before.target).toBe(during.target);
  });

  it.each([
    ['minReady lifts a quiet hour', { minReady: 4 }, MON + 21 * DAY + 3 * H, 4, 'minReady'],
    ['maxReady caps a busy hour', { maxReady: 5 }, MON + 21 * DAY + 10 * H, 5, 'maxReady'],
    ['a cron floor applies in its period', { schedules: [{ cron: '* 0-6 * * *', minReady: 7 }] }, MON + 21 * DAY + 3 * H, 7, 'schedule'],
    ['a cron floor outside its period does nothing', { schedules: [{ cron: '* 0-6 * * 6', minReady: 7 }] }, MON + 21 * DAY + 3 * H, 0, 'model'],
  ] as Array<[string, Partial<SizingInputs['sizing']>, number, number, string]>)('%s', (_label, over, now, expected, boundedBy) => {
    const d = sizingTarget(office, inputs(over), now);
    if (boundedBy === 'model') expect(d.target).toBeLessThanOrEqual(2);
    else expect(d.target).toBe(expected);
    expect(d.why.boundedBy).toBe(boundedBy);
  });

  it('is bounded by maxSize too', () => {
    expect(sizingTarget(office, inputs({}, 6), MON + 21 * DAY + 10 * H).target).toBe(6);
  });

  it('a new pool with no claims holds minReady; after its first bursts it holds about one burst', () => {
    expect(sizingTarget(emptyHistory(), inputs({ minReady: 2 }), MON).target).toBe(2);
    let h = emptyHistory();
    for (let b = 0; b < 3; b++) for (let i = 0; i < 6; i++) h = recordClaim(h, MON + b * 2 * H + i * 1000, { count: 1, warm: 0 });
    const d = sizingTarget(h, inputs(), MON + 6 * H + 1);
    expect(d.target).toBeGreaterThanOrEqual(5);
    expect(d.target).toBeLessThanOrEqual(6);
  });

  it('aims higher when the pool observed fewer warm hits than predicted', () => {
    let h = officeHistory(2, 10);
    const ok = sizingTarget(h, inputs({ warmHitTarget: 0.9 }), MON + 14 * DAY + 10 * H);
    for (let i = 0; i < 300; i++) h = recordClaim(h, MON + 14 * DAY + 10 * H + i * 61_000, { count: 1, warm: i % 4 === 0 ? 0 : 1, predictedHitRate: 0.9 });
    h = rollHistory(h, MON + 14 * DAY + 16 * H);
    const missed = sizingTarget(h, inputs({ warmHitTarget: 0.9 }), MON + 14 * DAY + 16 * H + 60_000);
    expect(missed.why.observedHitRate).toBeLessThan(0.9);
    expect(missed.why.aimedHitRate).toBeGreaterThan(ok.why.aimedHitRate as number);
  });

  it('while sizing from recent bursts it predicts nothing, so those claims do not calibrate the aim', () => {
    let h = emptyHistory();
    for (let i = 0; i < 6; i++) h = recordClaim(h, MON + i * 1000, { count: 1, warm: 0 });
    const d = sizingTarget(h, inputs(), MON + 10 * 60_000);
    expect(d.why.basis).toBe('recent');
    expect(d.why.predictedHitRate).toBeNull();
    // Claims that came with no prediction count as demand but not as the calibration's sample.
    h = recordClaim(h, MON + 20 * 60_000, { count: 4, warm: 1 });
    h = recordClaim(h, MON + 21 * 60_000, { count: 2, warm: 1, predictedHitRate: 0.9 });
    expect(h.current).toMatchObject({ claims: 12, warm: 2, cold: 10, scored: 2, scoredCold: 1 });
    h = rollHistory(h, MON + H);
    expect(h.served.scored).toBeCloseTo(2, 1);
    expect(h.served.scoredCold).toBeCloseTo(1, 1);
    expect(h.served.predicted).toBeCloseTo(1.8, 1);
  });

  it('reads a history saved before calibration existed (no scored tallies) as uncalibrated', () => {
    const old = officeHistory(2, 10);
    const { scored: _s, scoredCold: _c, ...served } = old.served;
    const d = sizingTarget({ ...old, served }, inputs({ warmHitTarget: 0.9 }), MON + 14 * DAY + 10 * H);
    expect(d.why.missRatio).toBe(1);
    expect(d.why.aimedHitRate).toBe(0.9);
  });

  it('fixed mode keeps targetReady, raised by a schedule floor', () => {
    const fixed = {
      targetReady: 3,
      maxSize: 100,
      sizing: { mode: 'fixed' as const, warmHitTarget: 0.95, minReady: 0, maxReady: null, schedules: [{ cron: '* 9-17 * * 1-5', minReady: 8 }] },
    };
    expect(sizingTarget(office, fixed, MON + 3 * H).target).toBe(3);
    expect(sizingTarget(office, fixed, MON + 10 * H)).toMatchObject({ target: 8, mode: 'fixed', why: { boundedBy: 'schedule' } });
  });
});

describe('cron floors', () => {
  it.each([
    ['* 9-17 * * 1-5', MON + 9 * H, true],
    ['* 9-17 * * 1-5', MON + 18 * H, false],
    ['* 9-17 * * 1-5', MON + 5 * DAY + 10 * H, false],
    ['0 * * * *', MON + 10 * H + 30_000, true],
    ['0 * * * *', MON + 10 * H + 60_000, false],
  ])('%s at %s → %s', (cron, now, matches) => expect(cronMatches(cron, now)).toBe(matches));

  it('the largest matching floor wins', () => {
    expect(
      scheduleFloor(
        [
          { cron: '* * * * *', minReady: 1 },
          { cron: '* 9-17 * * *', minReady: 5 },
        ],
        MON + 10 * H,
      ),
    ).toBe(5);
    expect(
      scheduleFloor(
        [
          { cron: '* * * * *', minReady: 1 },
          { cron: '* 9-17 * * *', minReady: 5 },
        ],
        MON + 20 * H,
      ),
    ).toBe(1);
  });

  it('reads the cron in the schedule time zone', () => {
    // 09:00 in New York is 13:00 UTC in September (EDT)
    expect(cronMatches('0 9 * * *', MON + 13 * H, 'America/New_York')).toBe(true);
    expect(cronMatches('0 9 * * *', MON + 9 * H, 'America/New_York')).toBe(false);
  });
});

describe('calibratedAim (the aim in miss space)', () => {
  const prior = CALIBRATION_PRIOR_CLAIMS;
  it.each([
    // [label, q, scored claims, of them cold, Σ predicted hit rate, expected ρ, expected aim]
    ['no claims scored yet: ρ = 1, aim = target', 0.95, 0, 0, 0, 1, 0.95],
    ['misses as predicted: ρ = 1', 0.9, 1000, 100, 900, 1, 0.9],
    [
      'twice the predicted misses: aim at about half the misses',
      0.9,
      1000,
      200,
      900,
      (200 + prior * 0.1) / (100 + prior * 0.1),
      1 - 0.1 / ((200 + prior * 0.1) / (100 + prior * 0.1)),
    ],
    ['ten times the predicted misses: ρ is capped', 0.9, 1000, 1000, 900, CALIBRATION_BOUNDS.max, 1 - 0.1 / CALIBRATION_BOUNDS.max],
    [
      'three times the predicted misses: a third of the misses aimed at',
      0.9,
      10_000,
      3000,
      9000,
      (3000 + prior * 0.1) / (1000 + prior * 0.1),
      1 - 0.1 / ((3000 + prior * 0.1) / (1000 + prior * 0.1)),
    ],
    ['no misses where some were predicted: ρ floored, aim lowered', 0.9, 1000, 0, 900, CALIBRATION_BOUNDS.min, 0.8],
    ['few claims: the prior dominates', 0.9, 10, 5, 9, (5 + prior * 0.1) / (1 + prior * 0.1), 1 - 0.1 / ((5 + prior * 0.1) / (1 + prior * 0.1))],
  ])('%s', (_label, q, scored, scoredCold, predicted, rho, aim) => {
    const c = calibratedAim(q, { predicted, scored, scoredCold });
    expect(c.rho).toBeCloseTo(rho, 2);
    expect(c.aim).toBeCloseTo(aim, 3);
  });

  it('the aim rises as observed misses grow, and never reaches 1', () => {
    const aims = [0, 50, 100, 150, 200, 400].map((cold) => calibratedAim(0.99, { predicted: 990, scored: 1000, scoredCold: cold }).aim);
    for (let i = 1; i < aims.length; i++) expect(aims[i]).toBeGreaterThanOrEqual(aims[i - 1] as number);
    expect(aims.at(-1)).toBeLessThan(1);
  });
});

describe('peaksFor (burst peaks within one lead time)', () => {
  const profile = (peaks: Record<string, Record<string, number>>) => ({ ...emptyHistory().profile, burstSizes: { '9': 1 }, burstPeaks: peaks });
  const mean = (hist: Record<string, number>) => {
    const t = Object.values(hist).reduce((a, b) => a + b, 0);
    return Object.entries(hist).reduce((a, [k, w]) => a + Number(k) * w, 0) / t;
  };
  const p = profile({ '30': { '4': 2 }, '60': { '8': 2 }, '120': { '8': 1, '10': 1 }, '300': { '10': 2 } });
  it.each([
    ['at a measured window: that window', 30_000, 4],
    ['half way between 30 s and 60 s: the even mix', 45_000, 6],
    ['a quarter of the way from 60 s to 120 s', 75_000, 8.25],
    ['shorter than every window: the shortest', 10_000, 4],
    ['longer than every window: the longest', 600_000, 10],
  ])('%s', (_label, lead, expectedMean) => {
    expect(mean(peaksFor(p, lead))).toBeCloseTo(expectedMean, 6);
  });
  it('keeps the weight of bursts seen, and falls back to burst sizes before any peak', () => {
    const total = Object.values(peaksFor(p, 45_000)).reduce((a, b) => a + b, 0);
    expect(total).toBeCloseTo(2, 6);
    expect(peaksFor(profile({}), 45_000)).toEqual({ '9': 1 });
  });
});
