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
import { CronExpressionParser } from 'cron-parser';

export const SIZING_HISTORY_VERSION = 1;
/** Claims closer than this belong to one burst. */
export const BURST_GAP_MS = 60_000;
/**
 * Windows (seconds) over which a burst's peak demand is measured. What a pool must hold
 * ready is the demand within one refill time (about one boot), not the whole burst: the
 * window nearest the pool's lead time is used.
 */
export const PEAK_WINDOWS_S = [30, 60, 120, 300] as const;
const MAX_OPEN_CLAIM_TIMES = 2000;
/** Per-minute claim counts kept (3 hours). */
export const RECENT_MINUTES = 180;
export const WEEK_HOURS = 168;
const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;
/** Profile and burst sizes halve in weight every 3 weeks of history. */
export const PROFILE_HALF_LIFE_HOURS = 3 * WEEK_HOURS;
const HOURLY_DECAY = 0.5 ** (1 / PROFILE_HALF_LIFE_HOURS);
/** Served warm/cold tallies (the aim correction) halve every week. */
const SERVED_DECAY = 0.5 ** (1 / WEEK_HOURS);
/** Bursts bigger than this count as this big. */
export const MAX_BURST = 1000;
/** Hours of pseudo-observation a slot borrows from its prior (same hour other days, then overall). */
const SHRINK_HOURS = 1;
/** After this many idle hours the profile is only decayed in bulk (no per-hour loop). */
const MAX_ROLL_HOURS = 4 * WEEK_HOURS;
/** Weight below which a histogram entry is dropped. */
const PRUNE_WEIGHT = 1e-3;

export interface DemandProfile {
  /** Per hour-of-week slot (0 = Monday 00:00 UTC), decayed: bursts started. */
  bursts: number[];
  /** Per slot, decayed: claims. */
  claims: number[];
  /** Per slot, decayed: hours observed. */
  hours: number[];
  /** Decayed burst-size histogram: size (as a string key) → weight. */
  burstSizes: Record<string, number>;
  /** Per peak window (seconds, as a key): decayed histogram of the most claims of a burst within that window. */
  burstPeaks: Record<string, Record<string, number>>;
}

export interface DemandHistory {
  version: typeof SIZING_HISTORY_VERSION;
  /** Start of the hour being accumulated into `current`; null before the first roll. */
  hourStart: number | null;
  /** Start of the minute `minutes[minutes.length − 1]` counts; null before the first claim. */
  minuteStart: number | null;
  /** Claims per minute for the last RECENT_MINUTES minutes, oldest first. */
  minutes: number[];
  /** The learned part (replaced, never mutated, so solutions can be cached on it). */
  profile: DemandProfile;
  /** This hour so far, folded into the profile (and `served`) when the hour rolls. */
  current: { bursts: number; claims: number; warm: number; cold: number; predicted: number };
  /** The burst in progress. */
  openBurst: { startedAt: number; lastAt: number; size: number; peaks: number[]; recent: number[] } | null;
  /** Decayed claims served warm and cold (for the aim correction). */
  served: { warm: number; cold: number; predicted: number };
}

export function hourOfWeek(now: number): number {
  // 1970-01-01 was a Thursday: +72 h puts Monday 00:00 at slot 0.
  return (((Math.floor(now / HOUR_MS) + 72) % WEEK_HOURS) + WEEK_HOURS) % WEEK_HOURS;
}

export function emptyHistory(): DemandHistory {
  return {
    version: SIZING_HISTORY_VERSION,
    hourStart: null,
    minuteStart: null,
    minutes: [],
    profile: { bursts: zeros(), claims: zeros(), hours: zeros(), burstSizes: {}, burstPeaks: {} },
    current: { bursts: 0, claims: 0, warm: 0, cold: 0, predicted: 0 },
    openBurst: null,
    served: { warm: 0, cold: 0, predicted: 0 },
  };
}

function zeros(): number[] {
  return new Array<number>(WEEK_HOURS).fill(0);
}

function addBurstSize(sizes: Record<string, number>, size: number): Record<string, number> {
  const key = String(Math.min(MAX_BURST, Math.max(1, Math.round(size))));
  return { ...sizes, [key]: (sizes[key] ?? 0) + 1 };
}

/**
 * Brings the history up to `now`: closes a burst that ended, folds finished hours into
 * the hour-of-week profile (decaying it), and drops minute counts older than the window.
 * Idempotent for the same `now`; returns the same object when nothing changes.
 */
export function rollHistory(h: DemandHistory, now: number): DemandHistory {
  let next = h;
  if (h.openBurst !== null && now - h.openBurst.lastAt > BURST_GAP_MS) {
    const open = h.openBurst;
    const burstPeaks: Record<string, Record<string, number>> = { ...next.profile.burstPeaks };
    PEAK_WINDOWS_S.forEach((w, i) => {
      burstPeaks[String(w)] = addBurstSize(burstPeaks[String(w)] ?? {}, open.peaks[i] ?? open.size);
    });
    next = { ...next, openBurst: null, profile: { ...next.profile, burstSizes: addBurstSize(next.profile.burstSizes, open.size), burstPeaks } };
  }
  const hourNow = Math.floor(now / HOUR_MS) * HOUR_MS;
  if (next.hourStart === null) {
    next = { ...next, hourStart: hourNow };
  } else if (hourNow > next.hourStart) {
    const elapsed = Math.round((hourNow - next.hourStart) / HOUR_MS);
    const bursts = [...next.profile.bursts];
    const claims = [...next.profile.claims];
    const hours = [...next.profile.hours];
    const decayAll = (f: number) => {
      for (let i = 0; i < WEEK_HOURS; i++) {
        bursts[i] = (bursts[i] as number) * f;
        claims[i] = (claims[i] as number) * f;
        hours[i] = (hours[i] as number) * f;
      }
    };
    // The finished hour first, then the empty hours after it (at most MAX_ROLL_HOURS one by one).
    const loop = Math.min(elapsed, MAX_ROLL_HOURS);
    for (let i = 0; i < loop; i++) {
      decayAll(HOURLY_DECAY);
      const slot = hourOfWeek(next.hourStart + i * HOUR_MS);
      hours[slot] = (hours[slot] as number) + 1;
      if (i === 0) {
        bursts[slot] = (bursts[slot] as number) + next.current.bursts;
        claims[slot] = (claims[slot] as number) + next.current.claims;
      }
    }
    if (elapsed > loop) decayAll(HOURLY_DECAY ** (elapsed - loop));
    const factor = HOURLY_DECAY ** elapsed;
    const decayHist = (hist: Record<string, number>) => {
      const out: Record<string, number> = {};
      for (const [k, w] of Object.entries(hist)) if (w * factor >= PRUNE_WEIGHT) out[k] = w * factor;
      return out;
    };
    const burstSizes = decayHist(next.profile.burstSizes);
    const burstPeaks: Record<string, Record<string, number>> = {};
    for (const [w, hist] of Object.entries(next.profile.burstPeaks)) burstPeaks[w] = decayHist(hist);
    const sf = SERVED_DECAY ** elapsed;
    next = {
      ...next,
      hourStart: hourNow,
      profile: { bursts, claims, hours, burstSizes, burstPeaks },
      current: { bursts: 0, claims: 0, warm: 0, cold: 0, predicted: 0 },
      served: {
        warm: (next.served.warm + next.current.warm) * sf,
        cold: (next.served.cold + next.current.cold) * sf,
        predicted: (next.served.predicted + next.current.predicted) * sf,
      },
    };
  }
  if (next.minuteStart !== null) {
    const minuteNow = Math.floor(now / MINUTE_MS) * MINUTE_MS;
    const shift = Math.round((minuteNow - next.minuteStart) / MINUTE_MS);
    if (shift > 0) {
      const pad = Math.min(shift, RECENT_MINUTES);
      const minutes = [...next.minutes, ...new Array<number>(pad).fill(0)].slice(-RECENT_MINUTES);
      next = { ...next, minuteStart: minuteNow, minutes };
    }
  }
  return next;
}

export interface ClaimObservation {
  /** Machines asked for. */
  count: number;
  /** Of those, how many were served from ready machines (the rest waited). */
  warm: number;
  /** The warm-hit rate the pool's sizing predicted when the claim came (for the aim correction). */
  predictedHitRate?: number;
}

/** Records one claim (hit or miss: both are demand). */
export function recordClaim(h: DemandHistory, now: number, claim: ClaimObservation): DemandHistory {
  const rolled = rollHistory(h, now);
  const count = Math.max(0, Math.round(claim.count));
  if (count === 0) return rolled;
  const warm = Math.min(count, Math.max(0, claim.warm));
  const minuteNow = Math.floor(now / MINUTE_MS) * MINUTE_MS;
  const minutes = rolled.minuteStart === null ? [count] : [...rolled.minutes.slice(0, -1), (rolled.minutes.at(-1) ?? 0) + count];
  const startsBurst = rolled.openBurst === null;
  return {
    ...rolled,
    minuteStart: rolled.minuteStart ?? minuteNow,
    minutes,
    current: {
      bursts: rolled.current.bursts + (startsBurst ? 1 : 0),
      claims: rolled.current.claims + count,
      warm: rolled.current.warm + warm,
      cold: rolled.current.cold + (count - warm),
      predicted: rolled.current.predicted + (claim.predictedHitRate ?? 0) * count,
    },
    openBurst: extendBurst(rolled.openBurst, now, count),
  };
}

function extendBurst(open: DemandHistory['openBurst'], now: number, count: number): NonNullable<DemandHistory['openBurst']> {
  const longest = Math.max(...PEAK_WINDOWS_S) * 1000;
  const recent = open === null ? [] : open.recent.filter((t) => now - t < longest);
  for (let i = 0; i < count && recent.length < MAX_OPEN_CLAIM_TIMES; i++) recent.push(now);
  const peaks = PEAK_WINDOWS_S.map((w, i) => {
    const inWindow = recent.filter((t) => now - t < w * 1000).length;
    return Math.max(open?.peaks[i] ?? 0, inWindow);
  });
  return { startedAt: open?.startedAt ?? now, lastAt: now, size: (open?.size ?? 0) + count, peaks, recent };
}

/** Index in PEAK_WINDOWS_S of the window nearest the lead time. */
function nearestWindow(leadMs: number): number {
  let best = 0;
  PEAK_WINDOWS_S.forEach((w, i) => {
    if (Math.abs(w * 1000 - leadMs) < Math.abs((PEAK_WINDOWS_S[best] as number) * 1000 - leadMs)) best = i;
  });
  return best;
}

/** The peak histogram for the window nearest the lead time (the burst sizes when none yet). */
function peaksFor(p: DemandProfile, leadMs: number): Record<string, number> {
  return p.burstPeaks[String(PEAK_WINDOWS_S[nearestWindow(leadMs)])] ?? p.burstSizes;
}

const sumOf = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

// ───────────────────────────── the target ─────────────────────────────

export interface SizingSchedule {
  cron: string;
  minReady: number;
  timezone?: string;
}

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

interface Solution {
  /** Per slot: ready machines to hold. */
  perSlot: number[];
  lambda: number[];
  predicted: number;
  aimed: number;
}

const solutions = new WeakMap<DemandProfile, Map<string, Solution>>();

/** Survival of the burst-size distribution: s[k] = P(B ≥ k) for k = 0..maxReady (s[0] = 1). */
function burstSurvival(sizes: Record<string, number>, maxReady: number): { s: number[]; total: number; mean: number } {
  let total = 0;
  let mean = 0;
  const at = new Array<number>(maxReady + 2).fill(0);
  for (const [k, w] of Object.entries(sizes)) {
    const size = Number(k);
    total += w;
    mean += w * size;
    at[Math.min(size, maxReady + 1)] = (at[Math.min(size, maxReady + 1)] as number) + w;
  }
  const s = new Array<number>(maxReady + 1).fill(0);
  if (total === 0) return { s, total, mean: 0 };
  let above = total; // weight of sizes ≥ k
  for (let k = 0; k <= maxReady; k++) {
    s[k] = above / total;
    above -= at[k] as number;
  }
  return { s, total, mean: mean / total };
}

const quantileCache = new WeakMap<Record<string, number>, Map<number, number | null>>();

function quantile(sizes: Record<string, number>, q: number): number | null {
  let byQ = quantileCache.get(sizes);
  if (!byQ) {
    byQ = new Map();
    quantileCache.set(sizes, byQ);
  }
  if (!byQ.has(q)) byQ.set(q, quantileUncached(sizes, q));
  return byQ.get(q) as number | null;
}

function quantileUncached(sizes: Record<string, number>, q: number): number | null {
  const entries = Object.entries(sizes)
    .map(([k, w]) => [Number(k), w] as const)
    .sort((a, b) => a[0] - b[0]);
  const total = entries.reduce((t, [, w]) => t + w, 0);
  if (total === 0) return null;
  let acc = 0;
  for (const [k, w] of entries) {
    acc += w;
    if (acc >= q * total - 1e-9) return k;
  }
  return entries.at(-1)![0];
}

/**
 * Bursts per hour per slot, shrunk towards the same hour on the same kind of day (weekdays,
 * weekends), which is shrunk towards the pool's overall rate.
 */
function slotRates(p: DemandProfile): number[] {
  const totalHours = p.hours.reduce((a, b) => a + b, 0);
  const totalBursts = p.bursts.reduce((a, b) => a + b, 0);
  const overall = totalHours > 0 ? totalBursts / totalHours : 0;
  const prior = (days: number[], hod: number): number => {
    let b = 0;
    let hrs = 0;
    for (const d of days) {
      b += p.bursts[d * 24 + hod] as number;
      hrs += p.hours[d * 24 + hod] as number;
    }
    return (b + SHRINK_HOURS * overall) / (hrs + SHRINK_HOURS);
  };
  const weekday = [0, 1, 2, 3, 4];
  const weekend = [5, 6];
  const priors: number[] = [];
  for (let hod = 0; hod < 24; hod++) priors.push(prior(weekday, hod), prior(weekend, hod));
  return p.bursts.map((b, slot) => {
    const day = Math.floor(slot / 24);
    const base = priors[(slot % 24) * 2 + (day >= 5 ? 1 : 0)] as number;
    return (b + SHRINK_HOURS * base) / ((p.hours[slot] as number) + SHRINK_HOURS);
  });
}

function solve(p: DemandProfile, aim: number, maxReady: number, leadMs: number): Solution {
  const peaks = peaksFor(p, leadMs);
  const key = `${aim.toFixed(4)}|${maxReady}|${leadMs}`;
  let byKey = solutions.get(p);
  const cached = byKey?.get(key);
  if (cached) return cached;
  const lambda = slotRates(p);
  // s: survival of the peak demand within one refill time; a burst of B jobs whose peak is
  // P meets R ready machines and about (P − R)+ of its jobs wait (the rest are refilled in time).
  const { s, total, mean: meanPeak } = burstSurvival(peaks, maxReady);
  const meanSize = Math.max(meanPeak, burstSurvival(p.burstSizes, 0).mean);
  // fill[r] = E[min(r, P)] = Σ_{k=1..r} P(P ≥ k)
  const fill = new Array<number>(maxReady + 1).fill(0);
  for (let r = 1; r <= maxReady; r++) fill[r] = (fill[r - 1] as number) + (s[r] as number);
  const demand = lambda.reduce((a, l) => a + l, 0) * meanSize;
  const holdFor = (mu: number, l: number): number => {
    // largest r with l · s[r] ≥ mu (s is non-increasing)
    if (l <= 0) return 0;
    let lo = 0;
    let hi = maxReady;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (l * (s[mid] as number) >= mu) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  const hitAt = (mu: number): number => {
    if (demand <= 0) return 1;
    let missed = 0;
    for (const l of lambda) missed += l * Math.max(0, meanPeak - (fill[holdFor(mu, l)] as number));
    return 1 - missed / demand;
  };
  let perSlot: number[];
  let predicted: number;
  if (total === 0 || demand <= 0) {
    perSlot = zeros();
    predicted = 1;
  } else {
    // Bisect log μ: hit rate falls as μ grows; keep the largest μ that still reaches the aim.
    const maxL = Math.max(...lambda);
    let lo = Math.log(maxL * 1e-9); // reaches (nearly) everything
    let hi = Math.log(maxL * 1.000001); // holds (nearly) nothing
    if (hitAt(Math.exp(lo)) < aim) hi = lo;
    for (let i = 0; i < 40 && hi - lo > 1e-6; i++) {
      const mid = (lo + hi) / 2;
      if (hitAt(Math.exp(mid)) >= aim) lo = mid;
      else hi = mid;
    }
    const mu = Math.exp(lo);
    perSlot = lambda.map((l) => holdFor(mu, l));
    predicted = hitAt(mu);
  }
  const sol = { perSlot, lambda, predicted, aimed: aim };
  if (!byKey) {
    byKey = new Map();
    solutions.set(p, byKey);
  }
  if (byKey.size > 64) byKey.clear();
  byKey.set(key, sol);
  return sol;
}

/** Whether `now` falls in a minute the cron expression matches. Throws on a bad expression. */
export function cronMatches(cron: string, now: number, timezone = 'UTC'): boolean {
  const minute = Math.floor(now / MINUTE_MS) * MINUTE_MS;
  const it = CronExpressionParser.parse(cron, { currentDate: minute - 1, tz: timezone });
  return it.next().getTime() === minute;
}

/** A problem with a cron expression, or null when it parses. */
export function cronProblem(cron: string, timezone = 'UTC'): string | null {
  try {
    CronExpressionParser.parse(cron, { tz: timezone, currentDate: 0 });
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

export function scheduleFloor(schedules: readonly SizingSchedule[], now: number): number {
  let floor = 0;
  for (const s of schedules) if (s.minReady > floor && cronMatches(s.cron, now, s.timezone)) floor = s.minReady;
  return floor;
}

/** How far the aim may move from the target to correct the model by what was observed. */
const MAX_AIM_CORRECTION = 0.5;
/** Claims of observation before the correction has full weight. */
const CORRECTION_CLAIMS = 200;

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
  const historyHours = h.profile.hours.reduce((a, b) => a + b, 0);
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
  if (sumOf(h.profile.bursts) === 0 && sumOf(h.minutes) > 0) {
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
