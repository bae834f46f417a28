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
 * - Observed hits and misses (decayed) calibrate the aim in miss space: if the pool missed
 *   ρ times as often as the model predicted, the next solve aims at (1 − q)/ρ misses. The
 *   model's blind spots (bursts that meet a pool still refilling from the last one, boot
 *   failures, the pass cadence) then cost the pool what they really cost it, whatever the
 *   trace; ρ is learned from the pool's own claims, with a prior of ρ = 1.
 * - `minReady`, `maxReady` and the cron floors of `schedules` bound the result.
 *
 * The history is compact (a few KB: 180 minute counts, 3×168 profile numbers, a sparse
 * burst histogram) so it fits one Firestore document.
 */
import { hourOfWeek, peaksFor, nearestWindow, rollHistory, sumOf, type DemandHistory, type DemandProfile } from './sizing-history.js';
import { scheduleFloor, type SizingSchedule } from './sizing-schedule.js';
import { quantile, solve, type Solution } from './sizing-solve.js';

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
    /** Observed misses over the model's predicted ones (decayed, prior 1): what calibrated the aim. */
    missRatio?: number | null;
    /** The warm-hit rate the model predicts over a week at this aim (null while sizing from recent bursts). */
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
/**
 * Pseudo-claims of prior belief that the model's predicted misses are right (ρ = 1): the
 * calibration follows what was observed once the pool has seen a few times this many.
 */
export const CALIBRATION_PRIOR_CLAIMS = 50;
/**
 * Bounds of the calibration ρ (observed misses over predicted ones). Some misses do not
 * shrink with more machines (boot failures, bursts that meet a pool still refilling), so an
 * unbounded ρ would buy machines that do not help: at most, the aim cuts its misses to a
 * third. Measured (bench:sizing, shared trace and --synthetic): with a bound of 2, ρ sat at
 * the bound for two weeks and demand sizing fell short of 0.9 (0.896) on the shared trace
 * and of 0.95 and 0.99 on the synthetic one; with 3 it reaches every target on both.
 */
export const CALIBRATION_BOUNDS = { min: 0.5, max: 3 } as const;

/**
 * The aim in miss space: ρ = observed misses / predicted misses (decayed, with a prior of
 * CALIBRATION_PRIOR_CLAIMS claims at ρ = 1), and the aim = 1 − (1 − q)/ρ.
 */
export function calibratedAim(q: number, served: { predicted: number; scored?: number; scoredCold?: number }): { aim: number; rho: number } {
  const scored = served.scored ?? 0;
  const priorMiss = CALIBRATION_PRIOR_CLAIMS * (1 - q);
  const predictedMiss = Math.max(0, scored - served.predicted); // Σ (1 − predicted hit rate) over scored claims
  const rho = Math.min(CALIBRATION_BOUNDS.max, Math.max(CALIBRATION_BOUNDS.min, ((served.scoredCold ?? 0) + priorMiss) / (predictedMiss + priorMiss)));
  const aim = Math.min(0.9999, Math.max(0.01, Number((1 - (1 - q) / rho).toFixed(4))));
  return { aim, rho: Number(rho.toFixed(3)) };
}

/** A profile's totals and burst-size quantiles, cached on it (profiles are replaced, never mutated; the simulator asks every pass). */
const profileStats = new WeakMap<DemandProfile, { hours: number; bursts: number; p50: number | null; p90: number | null; max: number | null }>();
function statsOf(p: DemandProfile): { hours: number; bursts: number; p50: number | null; p90: number | null; max: number | null } {
  let t = profileStats.get(p);
  if (!t) {
    t = { hours: sumOf(p.hours), bursts: sumOf(p.bursts), p50: quantile(p.burstSizes, 0.5), p90: quantile(p.burstSizes, 0.9), max: quantile(p.burstSizes, 1) };
    profileStats.set(p, t);
  }
  return t;
}

/** The aim and the solve a demand decision reads, for one profile, tallies, target, bound and lead. */
interface Aimed {
  served: DemandHistory['served'];
  q: number;
  maxReady: number;
  lead: number;
  aim: number;
  rho: number;
  sol: Solution;
}

/**
 * The last aim and solve per profile object. Profiles and tallies are replaced, never
 * mutated, so a pass whose history holds the same profile and tallies (the simulator's
 * passes between two claims; never a history read back from the store) reuses them: the
 * entry is keyed on every input they read.
 */
const aimed = new WeakMap<DemandProfile, Aimed>();
function aimedSolve(h: DemandHistory, q: number, maxReady: number, lead: number): Aimed {
  const m = aimed.get(h.profile);
  if (m && m.served === h.served && m.q === q && m.maxReady === maxReady && m.lead === lead) return m;
  const { aim, rho } = calibratedAim(q, h.served);
  const next: Aimed = { served: h.served, q, maxReady, lead, aim, rho, sol: solve(h.profile, aim, maxReady, lead) };
  aimed.set(h.profile, next);
  return next;
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
  const lead = options.leadMs ?? 60_000;
  const key: DecisionKey = {
    served: h.served,
    open: h.openBurst !== null,
    slot,
    slotAhead: hourOfWeek(now + lead),
    floor,
    lead,
    mode: sizing.mode,
    q: sizing.warmHitTarget,
    targetReady: spec.targetReady,
    maxSize: spec.maxSize,
    minReady,
    maxReady,
  };
  const last = decisions.get(h.profile);
  if (last && sameKey(last.key, key)) return last.decision;
  const decision = decide(h, spec, key);
  // A pool sizing from recent bursts reads its minute counts and open burst too: not memoized.
  if (decision.why.basis === 'profile') decisions.set(h.profile, { key, decision });
  return decision;
}

/**
 * Everything a decision reads besides the profile (the memo's key). A pass whose history
 * holds the same profile object and the same key (the simulator's passes between two
 * claims, within one hour) gets the same decision object back: do not mutate it.
 */
interface DecisionKey {
  served: DemandHistory['served'];
  open: boolean;
  slot: number;
  slotAhead: number;
  floor: number;
  lead: number;
  mode: SizingSpec['mode'];
  q: number;
  targetReady: number;
  maxSize: number;
  minReady: number;
  maxReady: number;
}
const decisions = new WeakMap<DemandProfile, { key: DecisionKey; decision: SizingDecision }>();
const KEY_FIELDS = ['served', 'open', 'slot', 'slotAhead', 'floor', 'lead', 'mode', 'q', 'targetReady', 'maxSize', 'minReady', 'maxReady'] as const;
function sameKey(a: DecisionKey, b: DecisionKey): boolean {
  return KEY_FIELDS.every((k) => a[k] === b[k]);
}

function decide(h: DemandHistory, spec: SizingInputs, key: DecisionKey): SizingDecision {
  const { sizing } = spec;
  const { slot, floor, minReady, maxReady } = key;
  const seen = h.served.warm + h.served.cold;
  const observed = seen > 0 ? h.served.warm / seen : null;
  const stats = statsOf(h.profile);
  const why: SizingDecision['why'] = {
    slot,
    burstsPerHour: null,
    burstSizeP50: stats.p50,
    burstSizeP90: stats.p90,
    burstSizeMax: stats.max,
    historyHours: stats.hours,
    aimedHitRate: null,
    missRatio: null,
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

  // The aim: the target, calibrated by how often the pool really missed against the model.
  const { q, lead, slotAhead } = key;
  const { aim, rho, sol } = aimedSolve(h, q, maxReady, lead);
  let unbounded = Math.max(sol.perSlot[slot] as number, sol.perSlot[slotAhead] as number);
  const lambdaNow = Math.max(sol.lambda[slot] as number, sol.lambda[slotAhead] as number);
  // A burst in progress is demand now: keep at least what the model holds for its slot.
  if (h.openBurst !== null) unbounded = Math.max(unbounded, sol.perSlot[slot] as number);
  // Cold start: no finished hour with claims in the profile yet, but claims in the last
  // RECENT_MINUTES. Hold what the recent bursts needed within one lead time.
  let basis: SizingDecision['why']['basis'] = 'profile';
  if (stats.bursts === 0 && sumOf(h.minutes) > 0) {
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
    why: {
      ...why,
      burstsPerHour: lambdaNow,
      aimedHitRate: aim,
      missRatio: rho,
      predictedHitRate: basis === 'profile' ? sol.predicted : null,
      unbounded,
      boundedBy,
      basis,
    },
  };
}
