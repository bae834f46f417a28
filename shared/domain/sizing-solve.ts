/**
 * The solve behind demand sizing (see sizing.ts): per hour-of-week slot, how many ready
 * machines reach a warm-hit aim at the least idle machine-hours (one Lagrange threshold
 * over the slots' marginal values), cached per profile object.
 */
import { peaksFor, zeros, type DemandProfile } from './sizing-history.js';

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

export function quantile(sizes: Record<string, number>, q: number): number | null {
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
  // fill[r] = E[min(r, P)] = Σ_{k=1..r} P(P ≥ k)
  const fill = new Array<number>(maxReady + 1).fill(0);
  for (let r = 1; r <= maxReady; r++) fill[r] = (fill[r - 1] as number) + (s[r] as number);
  const demand = lambda.reduce((a, l) => a + l, 0) * meanSize;
  /**
   * Per slot, the largest r with l · s[r] ≥ μ (s is non-increasing), and the hit rate those
   * holds give. Holds fall as μ grows, so holds known at a smaller and a larger μ bound the
   * search (the same answers as searching [0, maxReady], in fewer steps: the bisection
   * below evaluates 40 values of μ per solve).
   */
  const evaluate = (mu: number, atLeast: readonly number[] | null, atMost: readonly number[] | null): { hit: number; holds: number[] } => {
    const holds = new Array<number>(lambda.length);
    let missed = 0;
    for (let i = 0; i < lambda.length; i++) {
      const l = lambda[i] as number;
      let lo = 0;
      if (l > 0) {
        lo = atLeast ? (atLeast[i] as number) : 0;
        let hi = atMost ? (atMost[i] as number) : maxReady;
        while (lo < hi) {
          const mid = (lo + hi + 1) >> 1;
          if (l * (s[mid] as number) >= mu) lo = mid;
          else hi = mid - 1;
        }
      }
      holds[i] = lo;
      missed += l * Math.max(0, meanPeak - (fill[lo] as number));
    }
    return { hit: demand <= 0 ? 1 : 1 - missed / demand, holds };
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
    let atLo = evaluate(Math.exp(lo), null, null);
    if (atLo.hit < aim) hi = lo;
    let atHi = hi === lo ? atLo : evaluate(Math.exp(hi), null, null);
    for (let i = 0; i < 40 && hi - lo > 1e-6; i++) {
      const mid = (lo + hi) / 2;
      const mu = Math.exp(mid);
      const bracketed = Math.exp(lo) <= mu && mu <= Math.exp(hi);
      const at = evaluate(mu, bracketed ? atHi.holds : null, bracketed ? atLo.holds : null);
      if (at.hit >= aim) {
        lo = mid;
        atLo = at;
      } else {
        hi = mid;
        atHi = at;
      }
    }
    perSlot = atLo.holds;
    predicted = atLo.hit;
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
