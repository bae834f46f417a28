/**
 * Folding recorded claims into a pool's demand history, pass by pass, on a fake clock:
 * each claim counted exactly once whatever the pass timing, bursts and misses kept, and a
 * demand pool's target rising after bursts of claims.
 */
import { describe, expect, it } from 'vitest';
import { FOLD_SETTLE_MS, MAX_BACKFILL_MS, foldClaims, foldWindow, type ClaimSample, type PoolSizingState } from '../../shared/domain/sizing-fold.js';
import { sizingTarget, type SizingInputs } from '../../shared/domain/sizing.js';
import { bootLeadMs, DEFAULT_LEAD_MS } from '../../shared/services/reconcile-sizing.js';
import type { InstanceRecord } from '../../shared/domain/instance.js';
import { record } from '../support/builders.js';

const MONDAY = Date.UTC(2026, 0, 5, 9, 0, 0); // a Monday, 09:00 UTC
const MIN = 60_000;
const HOUR = 3_600_000;

const claimsIn = (s: PoolSizingState) => s.history.current.claims + s.history.profile.claims.reduce((a, b) => a + b, 0);
const demand = (over: Partial<SizingInputs['sizing']> = {}): SizingInputs => ({
  targetReady: 0,
  maxSize: 40,
  sizing: { mode: 'demand', warmHitTarget: 0.95, minReady: 0, maxReady: null, schedules: [], ...over },
});

describe('foldWindow', () => {
  it.each([
    ['first fold: back MAX_BACKFILL_MS from the settled edge', null, MONDAY, MONDAY - FOLD_SETTLE_MS - MAX_BACKFILL_MS, MONDAY - FOLD_SETTLE_MS],
    ['next fold: from where the last one stopped', MONDAY - 5 * MIN, MONDAY, MONDAY - 5 * MIN, MONDAY - FOLD_SETTLE_MS],
    ['a long gap: capped at MAX_BACKFILL_MS', MONDAY - 3 * MAX_BACKFILL_MS, MONDAY, MONDAY - FOLD_SETTLE_MS - MAX_BACKFILL_MS, MONDAY - FOLD_SETTLE_MS],
    ['a pass right after another: empty', MONDAY - FOLD_SETTLE_MS + 1, MONDAY, MONDAY - FOLD_SETTLE_MS, MONDAY - FOLD_SETTLE_MS],
  ])('%s', (_name, foldedThrough, now, from, to) => {
    const state = foldedThrough === null ? null : foldClaims(null, [], { from: foldedThrough - MIN, to: foldedThrough });
    expect(foldWindow(state, now)).toEqual({ from, to });
  });
});

describe('foldClaims', () => {
  it('folds only the claims of its window, in time order, and moves foldedThrough to the window end', () => {
    const window = { from: MONDAY, to: MONDAY + MIN };
    const claims: ClaimSample[] = [
      { at: MONDAY + 30_000, count: 2, warm: 2 },
      { at: MONDAY - 1, count: 5, warm: 5 }, // before the window: already folded
      { at: MONDAY + 10_000, count: 1, warm: 0 },
      { at: MONDAY + MIN, count: 7, warm: 7 }, // at the end: the next window's
    ];
    const s = foldClaims(null, claims, window);
    expect(s.foldedThrough).toBe(MONDAY + MIN);
    expect(s.history.current).toMatchObject({ claims: 3, warm: 2, cold: 1, bursts: 1 });
    expect(s.history.minutes.at(-1)).toBe(0); // rolled to the window end: a new minute
    expect(s.history.minutes.at(-2)).toBe(3);
  });

  it('counts every claim exactly once whatever the pass timing (passes 10 s to 3 min apart, reruns, empty windows)', () => {
    const claims: ClaimSample[] = Array.from({ length: 300 }, (_, i) => ({ at: MONDAY + i * 37_000, count: 1 + (i % 3), warm: i % 5 === 0 ? 0 : 1 + (i % 3) }));
    const total = claims.reduce((n, c) => n + c.count, 0);
    let state: PoolSizingState | null = null;
    let now = MONDAY;
    const gaps = [10_000, 60_000, 180_000, 0, 45_000, 60_000];
    for (let i = 0; now < MONDAY + 300 * 37_000 + 5 * MIN; i++) {
      now += gaps[i % gaps.length]!;
      const w = foldWindow(state, now);
      // The store may return claims outside the window (inclusive bounds, clock skew): they are ignored.
      state = foldClaims(
        state,
        claims.filter((c) => c.at >= w.from - 60_000 && c.at <= w.to + 60_000),
        w,
      );
    }
    // The same history as folding everything in one window (so nothing was counted twice or lost).
    const once = foldClaims(null, claims, { from: foldWindow(null, MONDAY).from, to: state!.foldedThrough! });
    expect(state!.history).toEqual(once.history);
    expect(claimsIn(state!)).toBeGreaterThan(total * 0.99); // decayed by about 3 h of a 3-week half-life
    expect(claimsIn(state!)).toBeLessThanOrEqual(total);
  });

  it('a burst of claims becomes one burst of its size once it ends; misses count as cold', () => {
    const burst: ClaimSample[] = Array.from({ length: 19 }, (_, i) => ({ at: MONDAY + i * 1000, count: 1, warm: i < 12 ? 1 : 0 }));
    let s = foldClaims(null, burst, { from: MONDAY, to: MONDAY + 30_000 });
    expect(s.history.openBurst?.size).toBe(19);
    s = foldClaims(s, [], { from: MONDAY + 30_000, to: MONDAY + 5 * MIN });
    expect(s.history.openBurst).toBeNull();
    expect(s.history.profile.burstSizes).toEqual({ '19': 1 });
    s = foldClaims(s, [], { from: MONDAY + 5 * MIN, to: MONDAY + HOUR + MIN });
    expect(s.history.served.warm).toBeCloseTo(12, 1);
    expect(s.history.served.cold).toBeCloseTo(7, 1);
  });

  it('keeps the last decision, and records its predicted hit rate with each claim (the aim correction)', () => {
    const decided = { ...foldClaims(null, [], { from: MONDAY - MIN, to: MONDAY }) };
    const d = sizingTarget(decided.history, demand(), MONDAY);
    const withDecision: PoolSizingState = { ...decided, decision: { ...d, why: { ...d.why, predictedHitRate: 0.9 }, computedAt: MONDAY, leadMs: 45_000 } };
    const s = foldClaims(withDecision, [{ at: MONDAY + 1000, count: 10, warm: 10 }], { from: MONDAY, to: MONDAY + MIN });
    expect(s.decision?.computedAt).toBe(MONDAY);
    expect(s.history.current.predicted).toBeCloseTo(9, 6);
  });
});

describe('a demand pool sized from folded claims', () => {
  it('holds nothing with no history, and rises after weekday bursts of claims', () => {
    let state: PoolSizingState | null = null;
    let now = MONDAY;
    expect(sizingTarget(foldClaims(null, [], foldWindow(null, now)).history, demand(), now).target).toBe(0);
    // Three weekdays: a burst of 15 claims every 20 minutes, 08:00–18:00, all missed (pool empty).
    const claims: ClaimSample[] = [];
    for (let day = 0; day < 3; day++)
      for (let m = 8 * 60; m < 18 * 60; m += 20)
        for (let j = 0; j < 15; j++) claims.push({ at: MONDAY - 9 * HOUR + day * 24 * HOUR + m * MIN + j * 2000, count: 1, warm: 0 });
    const end = MONDAY - 9 * HOUR + 2 * 24 * HOUR + 17 * HOUR;
    for (now = MONDAY; now <= end; now += 5 * MIN) {
      const w = foldWindow(state, now);
      state = foldClaims(state, claims, w);
    }
    const d = sizingTarget(state!.history, demand(), now, { leadMs: 45_000 });
    expect(d.mode).toBe('demand');
    expect(d.target).toBeGreaterThanOrEqual(8);
    expect(d.target).toBeLessThanOrEqual(15);
    expect(d.why).toMatchObject({ burstSizeP50: 15, boundedBy: 'model' });
    expect(d.why.burstsPerHour).toBeGreaterThan(1);
    // A lower warm-hit target never holds more.
    expect(sizingTarget(state!.history, demand({ warmHitTarget: 0.5 }), now, { leadMs: 45_000 }).target).toBeLessThanOrEqual(d.target);
  });
});

describe('cold start', () => {
  it('a new pool with claims but no finished hour in its profile holds the peak of its recent bursts within one lead time', () => {
    // 10 claims 2 s apart, all missed: all 10 fall within the peak window nearest a 45 s lead.
    const burst: ClaimSample[] = Array.from({ length: 10 }, (_, i) => ({ at: MONDAY + 60_000 + i * 2000, count: 1, warm: 0 }));
    let s = foldClaims(null, burst, { from: MONDAY, to: MONDAY + 2 * MIN });
    let d = sizingTarget(s.history, demand(), MONDAY + 2 * MIN, { leadMs: 45_000 });
    expect(d.why.basis).toBe('recent');
    expect(d.target).toBe(10);
    expect(d.why.unbounded).toBe(10);
    // Spread out (one claim a minute): what one lead time sees is 1.
    const slow: ClaimSample[] = Array.from({ length: 10 }, (_, i) => ({ at: MONDAY + i * MIN, count: 1, warm: 0 }));
    s = foldClaims(null, slow, { from: MONDAY, to: MONDAY + 10 * MIN });
    d = sizingTarget(s.history, demand(), MONDAY + 10 * MIN, { leadMs: 45_000 });
    expect(d.target).toBeLessThanOrEqual(2);
    // No claims at all: nothing, on the profile.
    d = sizingTarget(foldClaims(null, [], { from: MONDAY, to: MONDAY + MIN }).history, demand(), MONDAY + MIN);
    expect(d).toMatchObject({ target: 0, why: { basis: 'profile' } });
    // maxReady still bounds it.
    s = foldClaims(null, burst, { from: MONDAY, to: MONDAY + 2 * MIN });
    expect(sizingTarget(s.history, demand({ maxReady: 4 }), MONDAY + 2 * MIN, { leadMs: 45_000 }).target).toBe(4);
  });
});

describe('bootLeadMs', () => {
  it.each([
    ['no machine booted yet: the default', [], DEFAULT_LEAD_MS],
    ['the median boot of the records that reached ready', [40_000, 50_000, 90_000], 50_000],
    ['even count: the lower middle', [40_000, 44_000, 50_000, 90_000], 44_000],
  ])('%s', (_name, boots, expected) => {
    const records: InstanceRecord[] = boots.map((b, i) => {
      const r = record({ pool: 'ci', state: 'ready', at: MONDAY, name: `ci-${i}` });
      return { ...r, createdAt: MONDAY - b, stateChangedAt: { ...r.stateChangedAt, ready: MONDAY } };
    });
    // A booting one (no ready time) does not count.
    records.push(record({ pool: 'ci', state: 'booting', at: MONDAY, name: 'ci-booting' }));
    expect(bootLeadMs(records)).toBe(expected);
  });
});
