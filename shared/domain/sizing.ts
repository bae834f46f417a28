/**
 * Demand-aware sizing: how many machines a pool keeps ready, from the pool's own claim
 * history. Pure: every function takes `now` (epoch ms) and returns new values.
 *
 * The model (inventory theory's base-stock policy with a fill-rate target):
 * - Claims come in BURSTS (a CI run starts many jobs at once): claims less than
 *   BURST_GAP_MS apart belong to one burst. The history keeps a decayed histogram of burst
 *   sizes and, per hour of the week, a decayed count of bursts started and of hours seen.
 * - A pool refills within about one boot time, so each burst meets a full pool of R ready
 *   machines and min(R, B) of its B jobs start warm. The k-th ready machine in hour slot h
 *   therefore serves λ_h · P(B ≥ k) jobs per hour (λ_h: bursts per hour in that slot) and
 *   costs one idle machine-hour.
 * - The cheapest way to reach a job-weighted warm-hit rate q over the week is to keep a
 *   machine exactly when its value is above one threshold μ (a Lagrange multiplier), with μ
 *   the largest that still predicts hit rate ≥ q. Quiet hours get few machines, busy hours
 *   many; nothing about any particular trace is a constant here.
 * - λ_h is shrunk towards the same hour on other days and towards the pool's overall rate
 *   while the slot has little history (a new pool sizes itself from what it has seen).
 * - Observed hits and misses (decayed) correct the aim: if the pool got fewer warm hits
 *   than the model predicted, the next solve aims higher, and vice versa.
 * - `minReady`, `maxReady` and the cron floors of `schedules` bound the result.
 *
 * The history is compact (a few KB: 180 minute counts, 3×168 profile numbers, a sparse
 * burst histogram) so it fits one Firestore document.
 */
import { hourOfWeek, peaksFor, nearestWindow, rollHistory, sumOf, type DemandHistory, type DemandProfile } from './sizing-history.js';
import { scheduleFloor, type SizingSchedule } from './sizing-schedule.js';
import { quantile, solve } from './sizing-solve.js';

export * from './sizing-history.js';
export * from './sizing-schedule.js';

// ───────────────────────────── the target ─────────────────────────────

export interface SizingSpec {
  mode: 'fixed' | 'demand';
  /** Share of claimed machines that should find a ready machine (0 < q < 1). */
  warmHitTarget: number;
  minReady: number;
  /** null: the pool's maxSize. */
  maxReady: number | null;
  schedules: SizingSchedule[];
}

export interface SizingInputs {
  /** The fixed target (spec.targetReady) used in fixed mode. */
  targetReady: number;
  maxSize: number;
  sizing: SizingSpec;
}

export interface SizingDecision {
  target: number;
  mode: 'fixed' | 'demand';
  /** The inputs that drove the number, for `pools get`, the API and the status page. */
  why: {
    slot: number;
    /** Bursts per hour the model expects now (after shrinkage; max over now and one lead time ahead). */
    burstsPerHour: number | null;
    burstSizeP50: number | null;
    burstSizeP90: number | null;
    burstSizeMax: number | null;
    /** Hours of history behind the profile (decayed). */
    historyHours: number;
    /** The warm-hit rate the solve aimed at (the target, corrected by what was observed). */
    aimedHitRate: number | null;
    /** The warm-hit rate the model predicts over a week at this aim. */
    predictedHitRate: number | null;
    /** Observed warm-hit rate (decayed), null before any claim. */
    observedHitRate: number | null;
    /** Target before bounds and floors. */
    unbounded: number;
    /** The largest matching schedule floor, 0 when none matches. */
    scheduleFloor: number;
    minReady: number;
    maxReady: number;
    boundedBy: 'model' | 'minReady' | 'maxReady' | 'schedule' | 'fixed';
    /**
     * profile: the hour-of-week model; recent: a pool whose profile holds no finished hour
     * with claims yet sizes to the peak demand of its recent bursts (within one lead time).
     */
    basis: 'profile' | 'recent';
  };
}

export interface SizingOptions {
  /** How far ahead a machine created now becomes useful (about one boot time). */
  leadMs?: number;
}
/** How far the aim may move from the target to correct the model by what was observed. */
const MAX_AIM_CORRECTION = 0.5;
/** Claims of observation before the correction has full weight. */
const CORRECTION_CLAIMS = 200;

/** A profile's total hours and bursts, cached on it (profiles are replaced, never mutated; the simulator asks every pass). */
const profileTotals = new WeakMap<DemandProfile, { hours: number; bursts: number }>();
function totalsOf(p: DemandProfile): { hours: number; bursts: number } {
  let t = profileTotals.get(p);
  if (!t) {
    t = { hours: p.hours.reduce((a, b) => a + b, 0), bursts: sumOf(p.bursts) };
    profileTotals.set(p, t);
  }
  return t;
}

/**
 * The pool's ready target now: the same function reconcile and the simulator run.
 * `history` should have been rolled to `now` (rollHistory); a stale one is rolled here.
 */
export function sizingTarget(history: DemandHistory, spec: SizingInputs, now: number, options: SizingOptions = {}): SizingDecision {
  const { sizing } = spec;
  const h = rollHistory(history, now);
  const maxReady = Math.min(sizing.maxReady ?? spec.maxSize, spec.maxSize);
  const minReady = Math.min(sizing.minReady, maxReady);
  const floor = Math.min(scheduleFloor(sizing.schedules, now), maxReady);
  const slot = hourOfWeek(now);
  const seen = h.served.warm + h.served.cold;
  const observed = seen > 0 ? h.served.warm / seen : null;
  const historyHours = totalsOf(h.profile).hours;
  const why: SizingDecision['why'] = {
    slot,
    burstsPerHour: null,
    burstSizeP50: quantile(h.profile.burstSizes, 0.5),
    burstSizeP90: quantile(h.profile.burstSizes, 0.9),
    burstSizeMax: quantile(h.profile.burstSizes, 1),
    historyHours,
    aimedHitRate: null,
    predictedHitRate: null,
    observedHitRate: observed,
    unbounded: spec.targetReady,
    scheduleFloor: floor,
    minReady,
    maxReady,
    boundedBy: 'fixed',
    basis: 'profile',
  };
  if (sizing.mode === 'fixed') {
    const target = Math.max(spec.targetReady, floor);
    return { target, mode: 'fixed', why: { ...why, boundedBy: floor > spec.targetReady ? 'schedule' : 'fixed' } };
  }

  // The aim: the target, corrected by how far observed misses strayed from predicted ones.
  const q = sizing.warmHitTarget;
  let aim = q;
  if (seen > 0 && observed !== null) {
    const predictedMean = h.served.predicted / seen;
    const weight = Math.min(1, seen / CORRECTION_CLAIMS);
    const gap = (predictedMean > 0 ? predictedMean : q) - observed; // > 0: the model was optimistic
    aim = q + weight * Math.max(-MAX_AIM_CORRECTION * (1 - q), Math.min(MAX_AIM_CORRECTION * (1 - q), gap));
  }
  aim = Math.min(0.9999, Math.max(0.01, Number(aim.toFixed(4))));
  const lead = options.leadMs ?? 60_000;
  const sol = solve(h.profile, aim, maxReady, lead);
  const slotAhead = hourOfWeek(now + lead);
  let unbounded = Math.max(sol.perSlot[slot] as number, sol.perSlot[slotAhead] as number);
  const lambdaNow = Math.max(sol.lambda[slot] as number, sol.lambda[slotAhead] as number);
  // A burst in progress is demand now: keep at least what the model holds for its slot.
  if (h.openBurst !== null) unbounded = Math.max(unbounded, sol.perSlot[slot] as number);
  // Cold start: no finished hour with claims in the profile yet, but claims in the last
  // RECENT_MINUTES. Hold what the recent bursts needed within one lead time.
  let basis: SizingDecision['why']['basis'] = 'profile';
  if (totalsOf(h.profile).bursts === 0 && sumOf(h.minutes) > 0) {
    const seenPeak = quantile(peaksFor(h.profile, lead), aim) ?? 0;
    const openPeak = h.openBurst ? (h.openBurst.peaks[nearestWindow(lead)] ?? h.openBurst.size) : 0;
    unbounded = Math.max(unbounded, Math.min(maxReady, Math.max(seenPeak, openPeak)));
    basis = 'recent';
  }
  let target = unbounded;
  let boundedBy: SizingDecision['why']['boundedBy'] = 'model';
  if (target >= maxReady && maxReady < spec.maxSize) {
    target = maxReady;
    boundedBy = 'maxReady';
  }
  if (target < minReady) {
    target = minReady;
    boundedBy = 'minReady';
  }
  if (target < floor) {
    target = floor;
    boundedBy = 'schedule';
  }
  return {
    target,
    mode: 'demand',
    why: { ...why, burstsPerHour: lambdaNow, aimedHitRate: aim, predictedHitRate: sol.predicted, unbounded, boundedBy, basis },
  };
}
