/**
 * The solve behind demand sizing (see sizing.ts): per hour-of-week slot, how many ready
 * machines reach a warm-hit aim at the least idle machine-hours (one Lagrange threshold
 * over the slots' marginal values), cached per profile object.
 */
import { peaksFor, zeros, type DemandProfile } from './sizing-history.js';
import { bisectedHolds } from './sizing-threshold.js';

/** Hours of pseudo-observation the same hour on the same kind of day borrows from the pool's overall rate. */
const SHRINK_HOURS = 1;
/**
 * Hours of pseudo-observation one hour-of-week slot borrows from the same hour on the same
 * kind of day. A slot sees one hour a week, so with a few weeks of history its own rate is
 * mostly noise; the solve picks the slots that look quietest, and with weak shrinkage those
 * are the ones whose rate was underestimated (the optimizer's curse): the pool then misses
 * more than predicted. Three hours: a slot's own rate outweighs the prior after three weeks.
 */
const SLOT_SHRINK_HOURS = 3;

export interface Solution {
  /** Per slot: ready machines to hold. */
  perSlot: number[];
  lambda: number[];
  predicted: number;
  aimed: number;
}

const solutions = new WeakMap<DemandProfile, Map<string, Solution>>();

/** Survival of the burst-size distribution: s[k] = P(B ≥ k) for k = 0..maxReady (s[0] = 1). */
function burstSurvival(sizes: Record<string, number>, maxReady: number): { s: Float64Array; total: number; mean: number } {
  let total = 0;
  let mean = 0;
  const at = new Float64Array(maxReady + 2);
  for (const [k, w] of Object.entries(sizes)) {
    const size = Number(k);
    total += w;
    mean += w * size;
    at[Math.min(size, maxReady + 1)] = (at[Math.min(size, maxReady + 1)] as number) + w;
  }
  const s = new Float64Array(maxReady + 1);
  if (total === 0) return { s, total, mean: 0 };
  let above = total; // weight of sizes ≥ k
  for (let k = 0; k <= maxReady; k++) {
    s[k] = above / total;
    above -= at[k] as number;
  }
  return { s, total, mean: mean / total };
}

/** A histogram sorted by size, with its total: computed once per histogram object (histograms are replaced, never mutated). */
const sortedCache = new WeakMap<Record<string, number>, { sizes: number[]; weights: number[]; total: number }>();

function sorted(hist: Record<string, number>): { sizes: number[]; weights: number[]; total: number } {
  let out = sortedCache.get(hist);
  if (!out) {
    const entries = Object.entries(hist)
      .map(([k, w]) => [Number(k), w] as const)
      .sort((a, b) => a[0] - b[0]);
    out = { sizes: entries.map((e) => e[0]), weights: entries.map((e) => e[1]), total: entries.reduce((t, [, w]) => t + w, 0) };
    sortedCache.set(hist, out);
  }
  return out;
}

/** The smallest size whose cumulative weight reaches q of the total; null for an empty histogram. */
export function quantile(hist: Record<string, number>, q: number): number | null {
  const { sizes, weights, total } = sorted(hist);
  if (total === 0) return null;
  let acc = 0;
  for (let i = 0; i < sizes.length; i++) {
    acc += weights[i] as number;
    if (acc >= q * total - 1e-9) return sizes[i] as number;
  }
  return sizes.at(-1) as number;
}

/**
 * Bursts per hour per slot, shrunk towards the same hour on the same kind of day (weekdays,
 * weekends), which is shrunk towards the pool's overall rate.
 */
function slotRates(p: DemandProfile): number[] {
  // Closing a burst replaces the profile but keeps its hourly arrays: the rates are cached on them.
  const cached = ratesCache.get(p.bursts);
  if (cached && cached.hours === p.hours) return cached.rates;
  const rates = slotRatesUncached(p);
  ratesCache.set(p.bursts, { hours: p.hours, rates });
  return rates;
}

const ratesCache = new WeakMap<readonly number[], { hours: readonly number[]; rates: number[] }>();

function slotRatesUncached(p: DemandProfile): number[] {
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
    return (b + SLOT_SHRINK_HOURS * base) / ((p.hours[slot] as number) + SLOT_SHRINK_HOURS);
  });
}

export function solve(p: DemandProfile, aim: number, maxReady: number, leadMs: number): Solution {
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
  const demand = lambda.reduce((a, l) => a + l, 0) * meanSize;
  let perSlot: number[];
  let predicted: number;
  if (total === 0 || demand <= 0) {
    perSlot = zeros();
    predicted = 1;
  } else {
    const at = thresholdHolds(lambda, s, meanPeak, demand, aim, maxReady);
    perSlot = new Array<number>(at.holds.length);
    for (let i = 0; i < at.holds.length; i++) perSlot[i] = at.holds[i] as number;
    predicted = at.hit;
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

/** The per-slot holds of the aim's Lagrange threshold, and their predicted hit rate (sizing-threshold.ts). */
function thresholdHolds(
  lambda: readonly number[],
  s: Float64Array,
  meanPeak: number,
  demand: number,
  aim: number,
  maxReady: number,
): { hit: number; holds: Int32Array } {
  // gap[r] = (E[P] − E[min(r, P)])+, with E[min(r, P)] = Σ_{k=1..r} P(P ≥ k): a burst's jobs that wait with r ready.
  const gap = new Float64Array(maxReady + 1);
  let fill = 0;
  for (let r = 0; r <= maxReady; r++) {
    if (r > 0) fill += s[r] as number;
    gap[r] = Math.max(0, meanPeak - fill);
  }
  return bisectedHolds({ lambda: new Float64Array(lambda), s, gap, demand, aim, maxReady });
}
